//! A small block-style YAML emitter for the objects sts-gen writes.
//!
//! The output is byte-for-byte what `serde_saphyr::to_string_with_options` writes with
//! `SerializerOptions::default()` and `folded_wrap_chars = usize::MAX` (the options sts-gen used
//! before), for every value our manifests can hold; a differential test over the whole
//! integration matrix and a list of hostile strings guards that. It exists because it is several
//! times faster: one pass over the value, one `String`, no per-node allocation.
//!
//! Layout (2-space indentation, "compact" sequences):
//! - a mapping's keys sit one level under their parent key; a sequence that is a mapping value
//!   puts its dashes at the key's own column (`key:\n- a`);
//! - the first key of a mapping (or first item of a sequence) that is a sequence item goes on the
//!   dash's line (`- name: x`), the rest two columns past the dash;
//! - empty collections are `{}` / `[]`;
//! - multi-line strings that a block scalar can hold are `|` literals (`|-` without a final
//!   newline, `|+` with several, `|2` when the first line starts with spaces); every other string
//!   is plain unless a YAML 1.1 or 1.2 reader could take it for something else or could not read
//!   it back, then it is double-quoted with escapes.
//!
//! Not supported, an error rather than different YAML: floats, byte arrays, enum variants with
//! data, non-scalar or over-long (more than 1024 characters) mapping keys.

use std::fmt::{self, Display};

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Why a value could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Error> {
    Err(Error(format!("the YAML emitter does not support {what}")))
}

/// `value` as a YAML document (no `---`).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(4096);
    append(&mut out, value)?;
    Ok(out)
}

/// Append `value` as a YAML document (no `---`) to `out`. On error `out` is left as it was.
pub fn append<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), Error> {
    let start = out.len();
    let result = value.serialize(Node {
        out: &mut *out,
        pos: Pos::Root,
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

// ------------------------------------------------------------------------------------------
// Scalars
// ------------------------------------------------------------------------------------------

const SPACES: &str = "                                                                ";

fn indent(out: &mut String, mut n: usize) {
    while n > SPACES.len() {
        out.push_str(SPACES);
        n -= SPACES.len();
    }
    out.push_str(&SPACES[..n]);
}

/// Characters that cannot stay literal in a plain or single-quoted scalar.
#[inline]
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{FEFF}' | '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}'
        )
}

// Word-at-a-time byte search: the bytes of a `u64` (little-endian, so the lowest set bit is
// the first byte) get their high bit set where a byte is special. Borrows can only mark bytes
// after a truly special one, so the first mark is exact.
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte below `n` (`n` <= 0x80); exact up to the first mark.
#[inline(always)]
fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LO * n as u64) & !w & HI
}

/// High bit of each byte equal to `c`; exact up to the first mark.
#[inline(always)]
fn bytes_equal(w: u64, c: u8) -> u64 {
    bytes_below(w ^ (LO * c as u64), 1)
}

/// Controls (C0, DEL) and non-ASCII bytes.
#[inline(always)]
fn unusual_word(w: u64) -> u64 {
    (w & HI) | bytes_below(w, 0x20) | bytes_equal(w, 0x7F)
}

#[inline(always)]
fn unusual_byte(c: u8) -> bool {
    !(0x20..0x7F).contains(&c)
}

#[inline(always)]
fn plain_special_word(w: u64) -> u64 {
    unusual_word(w)
        | bytes_equal(w, b'#')
        | bytes_equal(w, b':')
        | bytes_equal(w, b',')
        | bytes_equal(w, b'[')
        | bytes_equal(w, b']')
        | bytes_equal(w, b'{')
        | bytes_equal(w, b'}')
}

#[inline(always)]
fn plain_special_byte(c: u8) -> bool {
    unusual_byte(c) || matches!(c, b'#' | b':' | b',' | b'[' | b']' | b'{' | b'}')
}

#[inline(always)]
fn quote_special_word(w: u64) -> u64 {
    unusual_word(w) | bytes_equal(w, b'"') | bytes_equal(w, b'\\')
}

#[inline(always)]
fn quote_special_byte(c: u8) -> bool {
    unusual_byte(c) || c == b'"' || c == b'\\'
}

/// The first index at or after `i` whose byte is special (`b.len()` if none); `word` and
/// `byte` must agree.
#[inline(always)]
fn find_byte(b: &[u8], mut i: usize, word: fn(u64) -> u64, byte: fn(u8) -> bool) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let m = word(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !byte(b[i]) {
        i += 1;
    }
    i
}

/// Whether a string may be written plain. `key` adds the rules of mapping keys: no `:` at all
/// and none of `,[]{}` (a key must also read back inside a flow mapping).
fn plain_ok(s: &str, key: bool) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false; // the empty string reads back as null
    };
    // Surrounding white space is separation, not content, for a plain scalar.
    if first.is_ascii_whitespace() || last.is_ascii_whitespace() {
        return false;
    }
    match first {
        // Indicators only when alone or followed by white space.
        b'-' | b'?' if b.len() == 1 || b[1].is_ascii_whitespace() => return false,
        b',' | b':' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>'
        | b'\'' | b'"' | b'%' | b'@' | b'`' => return false,
        _ => {}
    }
    // Document markers `---` / `...`, alone or followed by white space.
    if b.len() >= 3
        && (&b[..3] == b"---" || &b[..3] == b"...")
        && (b.len() == 3 || b[3].is_ascii_whitespace())
    {
        return false;
    }
    // Character-level checks: escapes, comment starts (`#` after white space), `: `, and for
    // keys any `:` or flow indicator. Only the bytes `special` finds need a look.
    let mut i = 0;
    loop {
        i = find_byte(b, i, plain_special_word, plain_special_byte);
        let Some(&c) = b.get(i) else { break };
        if c < 0x80 {
            match c {
                b'#' => {
                    // `i > 0`: the first byte is not `#`.
                    let before = s[..i].chars().next_back().expect("not the first byte");
                    if before.is_whitespace() {
                        return false;
                    }
                }
                b':' if key || b.get(i + 1) == Some(&b' ') => return false,
                b':' => {}
                b',' | b'[' | b']' | b'{' | b'}' => {
                    if key {
                        return false;
                    }
                }
                _ => return false, // a control character
            }
            i += 1;
        } else {
            let ch = s[i..].chars().next().expect("a char starts here");
            if needs_escape(ch) {
                return false;
            }
            i += ch.len_utf8();
        }
    }
    // A value may hold `:` but not end with one (before trailing Unicode white space).
    if s.trim().ends_with(':') {
        return false;
    }
    !(is_ambiguous(s, false) || (key && is_ambiguous(s, true)))
}

/// Keys that need no checks beyond their bytes: a letter, then letters, digits and `-_./`,
/// and not a word some reader takes for null, a boolean or a float.
#[inline]
fn simple_word(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
    {
        return false;
    }
    !(b.len() <= 5 && is_ambiguous(s, false))
}

/// Whether a reader could resolve `s`, written plain, to something other than this string
/// (null, a boolean, a number, a timestamp, a merge key) or fail on it. `yaml_12` leaves out the
/// YAML 1.1 spellings.
fn is_ambiguous(s: &str, yaml_12: bool) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return true;
    };
    let word = |w: &str| s.eq_ignore_ascii_case(w);
    // By first byte. Callers have rejected surrounding white space, which the YAML 1.1 boolean
    // check would skip.
    match first {
        b'0'..=b'9' | b'+' | b'-' | b'.' | b'_' => {
            word("+inf")
                || word("-inf")
                || is_numeric(s, yaml_12)
                || (!yaml_12 && first.is_ascii_digit() && is_timestamp(s))
        }
        b'~' => s == "~",
        b'<' => !yaml_12 && s == "<<",
        b'=' => !yaml_12 && s == "=",
        _ if s.len() > 5 || !first.is_ascii_alphabetic() => false,
        _ => {
            word("null")
                || word("true")
                || word("false")
                || word("nan")
                || word("inf")
                || (!yaml_12 && ["y", "yes", "on", "n", "no", "off"].iter().any(|w| word(w)))
        }
    }
}

/// Numeric syntax as YAML 1.1 (lenient: underscores anywhere, sexagesimal, `0b`/`0o`/`0x`,
/// floats like `1.` or `.5.`) or YAML 1.2 readers resolve it, without constructing the number.
fn is_numeric(s: &str, yaml_12: bool) -> bool {
    if !matches!(
        s.as_bytes().first(),
        Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'_')
    ) {
        return false;
    }
    let unsigned = strip_sign(s);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return true;
    }
    if !yaml_12 {
        if is_sexagesimal(s) {
            return true;
        }
        if let Some((radix, digits)) = radix_prefixed(unsigned)
            && digit_run(digits, radix, false)
        {
            return true;
        }
    }
    let without_underscores;
    let s = if !yaml_12 && s.contains('_') {
        without_underscores = s.replace('_', "");
        without_underscores.as_str()
    } else {
        s
    };
    let unsigned = strip_sign(s);
    if let Some((radix, mut digits)) = radix_prefixed(unsigned) {
        // Lenient readers take a sign after an unsigned lowercase `0b` / `0o`.
        if !yaml_12 && (s.starts_with("0b") || s.starts_with("0o")) {
            digits = strip_sign(digits);
        }
        return digit_run(digits, radix, true);
    }
    let mantissa = match unsigned.find(['e', 'E']) {
        Some(at) => {
            if !digit_run(strip_sign(&unsigned[at + 1..]), 10, true) {
                return false;
            }
            &unsigned[..at]
        }
        None => unsigned,
    };
    match mantissa.find('.') {
        Some(at) => {
            let (whole, fraction) = (&mantissa[..at], &mantissa[at + 1..]);
            if !whole.is_empty() && !digit_run(whole, 10, true) {
                return false;
            }
            if !yaml_12 {
                fraction.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            } else if fraction.is_empty() {
                !whole.is_empty()
            } else {
                digit_run(fraction, 10, true)
            }
        }
        None => digit_run(mantissa, 10, true),
    }
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['+', '-']).unwrap_or(s)
}

fn radix_prefixed(s: &str) -> Option<(u32, &str)> {
    let radix = match s.as_bytes() {
        [b'0', b'b' | b'B', ..] => 2,
        [b'0', b'o' | b'O', ..] => 8,
        [b'0', b'x' | b'X', ..] => 16,
        _ => return None,
    };
    Some((radix, &s[2..]))
}

/// A non-empty run of digits of `radix`; underscores anywhere, or with `strict` only between
/// two digits.
fn digit_run(s: &str, radix: u32, strict: bool) -> bool {
    let digit = |b: u8| (b as char).is_digit(radix);
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().enumerate().all(|(i, &c)| {
            (c.is_ascii() && digit(c))
                || (c == b'_'
                    && (!strict
                        || (i > 0
                            && b[i - 1].is_ascii()
                            && digit(b[i - 1])
                            && b.get(i + 1).is_some_and(|&n| n.is_ascii() && digit(n)))))
        })
}

/// YAML 1.1 base-60 numbers: `1:30`, `-1_0:59:00.5`.
fn is_sexagesimal(s: &str) -> bool {
    let unsigned = strip_sign(s);
    let (integer, fraction) = match unsigned.find('.') {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let Some(colon) = integer.find(':') else {
        return false;
    };
    let (head, rest) = (&integer[..colon], &integer[colon + 1..]);
    let Some(&lead) = head.as_bytes().first() else {
        return false;
    };
    if !lead.is_ascii_digit()
        || (fraction.is_none() && lead == b'0')
        || !head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return false;
    }
    let parts_ok = rest.split(':').all(|part| match part.as_bytes() {
        [d] => d.is_ascii_digit(),
        [t, u] => matches!(t, b'0'..=b'5') && u.is_ascii_digit(),
        _ => false,
    });
    parts_ok && fraction.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
}

/// YAML 1.1 timestamps by shape (no calendar check): `2001-12-14`, `2001-12-14t21:59:43.10-05:00`,
/// `2001-12-14 21:59:43.10 -5`.
fn is_timestamp(s: &str) -> bool {
    struct Cur<'a>(&'a [u8]);
    impl Cur<'_> {
        fn digits(&mut self, min: usize, max: usize) -> bool {
            let n = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
            if n < min || n > max {
                return false;
            }
            self.0 = &self.0[n..];
            true
        }
        fn byte(&mut self, c: u8) -> bool {
            if self.0.first() == Some(&c) {
                self.0 = &self.0[1..];
                true
            } else {
                false
            }
        }
        fn blanks(&mut self) -> usize {
            let n = self
                .0
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            self.0 = &self.0[n..];
            n
        }
    }
    let mut c = Cur(s.as_bytes());
    if !(c.digits(4, 4) && c.byte(b'-') && c.digits(1, 2) && c.byte(b'-') && c.digits(1, 2)) {
        return false;
    }
    if c.0.is_empty() {
        return true;
    }
    if !(c.byte(b'T') || c.byte(b't')) && c.blanks() == 0 {
        return false;
    }
    if !(c.digits(1, 2) && c.byte(b':') && c.digits(1, 2) && c.byte(b':') && c.digits(1, 2)) {
        return false;
    }
    if c.byte(b'.') || c.byte(b',') {
        c.digits(0, usize::MAX);
    }
    c.blanks();
    if c.0.is_empty() || c.0 == b"Z" {
        return true;
    }
    if !((c.byte(b'+') || c.byte(b'-')) && c.digits(1, 2)) {
        return false;
    }
    if c.byte(b':') && !c.digits(2, 2) {
        return false;
    }
    c.0.is_empty()
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `s` double-quoted, with YAML escapes.
fn write_double_quoted(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let b = s.as_bytes();
    let mut done = 0; // bytes before this are written
    let mut i = 0;
    loop {
        i = find_byte(b, i, quote_special_word, quote_special_byte);
        let Some(&c) = b.get(i) else { break };
        let (escape, len) = if c < 0x80 {
            let e = match c {
                b'\\' => Escape::Str("\\\\"),
                b'"' => Escape::Str("\\\""),
                0 => Escape::Str("\\0"),
                7 => Escape::Str("\\a"),
                8 => Escape::Str("\\b"),
                9 => Escape::Str("\\t"),
                10 => Escape::Str("\\n"),
                11 => Escape::Str("\\v"),
                12 => Escape::Str("\\f"),
                13 => Escape::Str("\\r"),
                27 => Escape::Str("\\e"),
                _ => Escape::X(c.into()), // other C0 controls and DEL
            };
            (Some(e), 1)
        } else {
            let ch = s[i..].chars().next().expect("a char starts here");
            let e = match ch {
                '\u{85}' => Some(Escape::Str("\\N")),
                '\u{2028}' => Some(Escape::Str("\\L")),
                '\u{2029}' => Some(Escape::Str("\\P")),
                '\u{80}'..='\u{9F}' => Some(Escape::X(ch.into())),
                '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}' => Some(Escape::U(ch.into())),
                _ => None,
            };
            (e, ch.len_utf8())
        };
        if let Some(e) = escape {
            out.push_str(&s[done..i]);
            match e {
                Escape::Str(t) => out.push_str(t),
                Escape::X(v) => {
                    out.push_str("\\x");
                    out.push(HEX[(v >> 4) as usize & 15] as char);
                    out.push(HEX[v as usize & 15] as char);
                }
                Escape::U(v) => {
                    out.push_str("\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[(v >> shift) as usize & 15] as char);
                    }
                }
            }
            done = i + len;
        }
        i += len;
    }
    out.push_str(&s[done..]);
    out.push('"');
}

enum Escape {
    Str(&'static str),
    X(u32),
    U(u32),
}

/// A string in value position (after `key:`, `- ` or at the root), with its line end.
fn write_str_value(out: &mut String, pos: Pos, s: &str) {
    if s.as_bytes().contains(&b'\n') && write_literal(out, pos, s) {
        return;
    }
    if let Pos::Value(_) = pos {
        out.push(' ');
    }
    match s.as_bytes() {
        [c @ (b'.' | b'#' | b'-')] => {
            out.push('\'');
            out.push(*c as char);
            out.push('\'');
        }
        _ if plain_ok(s, false) => out.push_str(s),
        _ => write_double_quoted(out, s),
    }
    out.push('\n');
}

/// A `|` block scalar: chomping from the trailing newlines, an indentation indicator when the
/// first non-empty line starts with spaces, the body one level under the parent. `false`, with
/// `out` as it was, when a block scalar cannot hold `s` literally: it holds characters that need
/// escapes, `\r`, a BOM, or NEL/LS/PS.
fn write_literal(out: &mut String, pos: Pos, s: &str) -> bool {
    let start = out.len();
    let body_col = match pos {
        Pos::Root => 2,
        Pos::Value(col) | Pos::Item(col) => col + 2,
    };
    let content = s.trim_end_matches('\n');
    let trailing = s.len() - content.len();
    out.reserve(s.len() + 8 + (body_col + 1) * (s.len() / 24 + 1));
    out.push_str(if let Pos::Value(_) = pos { " |" } else { "|" });
    let first_line = content.split('\n').find(|l| !l.is_empty()).unwrap_or("");
    if first_line.starts_with(' ') {
        out.push('2');
    }
    match trailing {
        0 => out.push('-'),
        1 if !content.is_empty() => {}
        _ => out.push('+'),
    }
    out.push('\n');
    if content.is_empty() {
        for _ in 0..trailing {
            out.push('\n');
        }
        return true;
    }
    let b = content.as_bytes();
    let mut line = 0; // start of the current line
    let mut i = 0;
    loop {
        i = find_byte(b, i, unusual_word, unusual_byte);
        let Some(&c) = b.get(i) else { break };
        match c {
            b'\n' => {
                write_block_line(out, body_col, &content[line..i]);
                i += 1;
                line = i;
            }
            b'\t' => i += 1,
            0..0x80 => {
                out.truncate(start);
                return false;
            }
            _ => {
                let ch = content[i..].chars().next().expect("a char starts here");
                let ok = matches!(ch as u32, 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..)
                    && !matches!(ch, '\u{2028}' | '\u{2029}' | '\u{FEFF}');
                if !ok {
                    out.truncate(start);
                    return false;
                }
                i += ch.len_utf8();
            }
        }
    }
    write_block_line(out, body_col, &content[line..]);
    for _ in 1..trailing {
        out.push('\n');
    }
    true
}

/// One line of a block scalar: empty lines get no indentation.
#[inline]
fn write_block_line(out: &mut String, col: usize, line: &str) {
    if !line.is_empty() {
        indent(out, col);
        out.push_str(line);
    }
    out.push('\n');
}

fn write_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).expect("ASCII digits"));
}

fn write_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    write_u64(out, v.unsigned_abs());
}

// ------------------------------------------------------------------------------------------
// The serializer
// ------------------------------------------------------------------------------------------

/// Where the node being written starts.
#[derive(Clone, Copy)]
enum Pos {
    /// At the start of the document.
    Root,
    /// Right after `key:`; the key is at this column.
    Value(usize),
    /// Right after `- `; the dash is at this column.
    Item(usize),
}

struct Node<'a> {
    out: &'a mut String,
    pos: Pos,
}

impl Node<'_> {
    /// A scalar written as is (numbers, booleans, null), with its line end.
    fn plain(self, text: &str) -> Result<(), Error> {
        if let Pos::Value(_) = self.pos {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.out.push('\n');
        Ok(())
    }
}

impl<'a> ser::Serializer for Node<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Map<'a>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.plain(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        if let Pos::Value(_) = self.pos {
            self.out.push(' ');
        }
        write_i64(self.out, v);
        self.out.push('\n');
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.plain(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        if let Pos::Value(_) = self.pos {
            self.out.push(' ');
        }
        write_u64(self.out, v);
        self.out.push('\n');
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.plain(&v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        unsupported("floating-point numbers")
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        unsupported("floating-point numbers")
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        if v == '\n' {
            // serde-saphyr lays a one-newline char out unlike the same string.
            return unsupported("a newline char");
        }
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str_value(self.out, self.pos, v);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        unsupported("byte arrays")
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.plain("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.plain("null")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.plain("null")
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        // serde-saphyr gives its own wrappers (`__yaml_*`) special layouts.
        if name.starts_with("__yaml_") {
            return unsupported(name);
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        unsupported("enum variants with data")
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a>, Error> {
        let col = match self.pos {
            Pos::Root => 0,
            Pos::Value(col) => col,
            Pos::Item(col) => col + 2,
        };
        Ok(Seq {
            out: self.out,
            pos: self.pos,
            col,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        if name.starts_with("__yaml_") {
            return unsupported(name);
        }
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        unsupported("enum variants with data")
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a>, Error> {
        let col = match self.pos {
            Pos::Root => 0,
            Pos::Value(col) | Pos::Item(col) => col + 2,
        };
        Ok(Map {
            out: self.out,
            pos: self.pos,
            col,
            first: true,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Map<'a>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        unsupported("enum variants with data")
    }
}

/// A block sequence; `col` is the column of its dashes.
struct Seq<'a> {
    out: &'a mut String,
    pos: Pos,
    col: usize,
    first: bool,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        match (self.first, self.pos) {
            // The first item of a sequence in a sequence goes on the outer dash's line.
            (true, Pos::Item(_)) => {}
            (true, Pos::Value(_)) => {
                self.out.push('\n');
                indent(self.out, self.col);
            }
            _ => indent(self.out, self.col),
        }
        self.first = false;
        self.out.push_str("- ");
        value.serialize(Node {
            out: &mut *self.out,
            pos: Pos::Item(self.col),
        })
    }

    fn finish(self) -> Result<(), Error> {
        if self.first {
            self.out.push_str(match self.pos {
                Pos::Value(_) => " []\n",
                _ => "[]\n",
            });
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// A block mapping; `col` is the column of its keys.
struct Map<'a> {
    out: &'a mut String,
    pos: Pos,
    col: usize,
    first: bool,
}

/// Keys longer than this need YAML's explicit `? key` form, which this emitter does not write.
const MAX_SIMPLE_KEY_CHARS: usize = 1024;

impl Map<'_> {
    /// Start a line for the next key.
    fn key_start(&mut self) {
        match (self.first, self.pos) {
            // The first key of a mapping in a sequence goes on the dash's line.
            (true, Pos::Item(_)) => {}
            (true, Pos::Value(_)) => {
                self.out.push('\n');
                indent(self.out, self.col);
            }
            _ => indent(self.out, self.col),
        }
        self.first = false;
    }

    fn str_key(&mut self, key: &str) -> Result<(), Error> {
        self.key_start();
        write_key_str(self.out, key)?;
        self.out.push(':');
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Node {
            out: &mut *self.out,
            pos: Pos::Value(self.col),
        })
    }
}

fn write_key_str(out: &mut String, key: &str) -> Result<(), Error> {
    if simple_word(key) || plain_ok(key, true) {
        out.push_str(key);
        if key.len() > MAX_SIMPLE_KEY_CHARS && key.chars().count() > MAX_SIMPLE_KEY_CHARS {
            return unsupported("mapping keys longer than 1024 characters");
        }
    } else {
        let start = out.len();
        write_double_quoted(out, key);
        let text = &out[start..];
        if text.len() > MAX_SIMPLE_KEY_CHARS && text.chars().count() > MAX_SIMPLE_KEY_CHARS {
            return unsupported("mapping keys longer than 1024 characters");
        }
    }
    Ok(())
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key_start();
        key.serialize(Key {
            out: &mut *self.out,
        })?;
        self.out.push(':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        end_map(self)
    }
}

impl ser::SerializeStruct for Map<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.str_key(key)?;
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        end_map(self)
    }
}

fn end_map(map: Map<'_>) -> Result<(), Error> {
    if map.first {
        map.out.push_str(match map.pos {
            Pos::Value(_) => " {}\n",
            _ => "{}\n",
        });
    }
    Ok(())
}

/// A mapping key: a scalar on the key's line.
struct Key<'a> {
    out: &'a mut String,
}

fn non_scalar_key<T>() -> Result<T, Error> {
    unsupported("non-scalar mapping keys")
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_i64(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.out.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write_u64(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.out.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        unsupported("floating-point numbers")
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        unsupported("floating-point numbers")
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_key_str(self.out, v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        non_scalar_key()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if name.starts_with("__yaml_") {
            return unsupported(name);
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        non_scalar_key()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        non_scalar_key()
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        non_scalar_key()
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        non_scalar_key()
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        non_scalar_key()
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        non_scalar_key()
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        non_scalar_key()
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        non_scalar_key()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Ours, checked against serde-saphyr with sts-gen's options.
    fn yaml<T: Serialize>(v: &T) -> String {
        let ours = to_string(v).unwrap();
        let mut options = serde_saphyr::SerializerOptions::default();
        options.folded_wrap_chars = usize::MAX;
        assert_eq!(
            ours,
            serde_saphyr::to_string_with_options(v, options).unwrap()
        );
        ours
    }

    #[test]
    fn word_search_finds_the_first_special_byte() {
        // Every special byte at every offset, around 8-byte words, after bytes that borrow.
        let fillers: &[u8] = b"a Z0~\x7e\x21";
        let specials: &[u8] = b"\0\x01\x1f\x7f\x80\xff#:,[]{}\"\\\n\t";
        type Search = (fn(u64) -> u64, fn(u8) -> bool);
        let pairs: [Search; 3] = [
            (unusual_word, unusual_byte),
            (plain_special_word, plain_special_byte),
            (quote_special_word, quote_special_byte),
        ];
        for len in 0..20 {
            for &fill in fillers {
                for at in 0..=len {
                    for &special in specials {
                        for second in [fill, 0, 0x80, b'#'] {
                            let mut b = vec![fill; len];
                            if at < len {
                                b[at] = special;
                                if at + 1 < len {
                                    b[at + 1] = second;
                                }
                            }
                            for start in 0..=len {
                                for (word, byte) in pairs {
                                    let naive = (start..len).find(|&i| byte(b[i])).unwrap_or(len);
                                    assert_eq!(find_byte(&b, start, word, byte), naive, "{b:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ambiguous_spellings() {
        for s in [
            "",
            "~",
            "null",
            "NULL",
            "true",
            "False",
            "yes",
            "Y",
            "n",
            "off",
            "On",
            "nan",
            ".NaN",
            "inf",
            "-inf",
            "+.inf",
            "1",
            "-1",
            "+1",
            "0x1F",
            "0o7",
            "0b1",
            "1_000",
            "1e3",
            "1.",
            ".5",
            "1.2.3",
            "1:30",
            "2001-12-14",
            "2001-12-14 1:2:3 +5",
            "<<",
            "=",
        ] {
            assert!(is_ambiguous(s, false), "{s:?}");
        }
        for s in [
            "yess", "nulls", "a", "x1", "0x", "1e", "1:60", "2001-12", "<", "==", "8.4.7a", "v1",
        ] {
            assert!(!is_ambiguous(s, false), "{s:?}");
        }
        assert!(!is_ambiguous("yes", true) && !is_ambiguous("1:30", true));
        assert!(!is_ambiguous("<<", true) && is_ambiguous("1_0", true));
    }

    #[test]
    fn layout() {
        let v = serde_json::json!({
            "a": {"b": [1, {"c": "x", "d": []}, [2, [3]]], "e": {}},
            "s": "one\ntwo\n",
            "t": ["  x\n", "", "-", "8.4.7", "a: b"],
        });
        assert_eq!(
            yaml(&v),
            "a:\n  b:\n  - 1\n  - c: x\n    d: []\n  - - 2\n    - - 3\n  e: {}\n\
             s: |\n  one\n  two\n\
             t:\n- |2\n    x\n- \"\"\n- '-'\n- \"8.4.7\"\n- \"a: b\"\n"
        );
        assert_eq!(yaml(&"x\n\n"), "|+\n  x\n\n");
        assert_eq!(yaml(&"x"), "x\n");
        assert_eq!(yaml(&Vec::<u8>::new()), "[]\n");
        assert_eq!(yaml(&BTreeMap::<u8, u8>::new()), "{}\n");
        assert_eq!(yaml(&vec![Some(1), None]), "- 1\n- null\n");
        assert_eq!(
            yaml(&"tab\t\u{1}\u{85}\u{feff}\"\\"),
            "\"tab\\t\\x01\\N\\uFEFF\\\"\\\\\"\n"
        );
    }

    #[test]
    fn unsupported_values_are_errors_and_write_nothing() {
        #[derive(Serialize)]
        enum E {
            Tuple(u8, u8),
        }
        let mut out = "kept".to_owned();
        assert!(append(&mut out, &BTreeMap::from([("a", 1.5)])).is_err());
        assert!(append(&mut out, &vec![E::Tuple(1, 2)]).is_err());
        assert!(append(&mut out, &BTreeMap::from([(vec![1], 1)])).is_err());
        assert!(append(&mut out, &BTreeMap::from([("k".repeat(1025), 1)])).is_err());
        assert!(append(&mut out, &'\n').is_err());
        assert_eq!(out, "kept");
    }
}

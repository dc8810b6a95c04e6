//! TLS material for engines that need it: a private CA and one node certificate signed by it,
//! from the OS's randomness (ring). PEM text, ready for a Secret.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// How long generated certificates are valid.
const VALIDITY_DAYS: i64 = 3650;

pub struct Tls {
    pub ca_crt: String,
    pub crt: String,
    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`), ECDSA P-256.
    pub key: String,
}

/// A CA named `ca_name` and a certificate for `common_name` valid for `sans` (DNS names, wildcards
/// or IP addresses), for both server and client authentication (as node-to-node TLS needs).
pub fn generate(ca_name: &str, common_name: &str, sans: &[String]) -> Result<Tls> {
    let now = OffsetDateTime::now_utc();
    let validity = |p: &mut CertificateParams| {
        // An hour of slack for nodes whose clocks are slightly behind.
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(VALIDITY_DAYS);
    };

    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca.distinguished_name = name(ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca);
    let ca_crt = ca
        .self_signed(&ca_key)
        .context("signing the CA certificate")?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().context("generating the node key")?;
    let mut node = CertificateParams::new(sans.to_vec()).context("certificate names")?;
    node.distinguished_name = name(common_name);
    node.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyAgreement,
    ];
    node.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut node);
    let crt = node
        .signed_by(&key, &issuer)
        .context("signing the node certificate")?;
    Ok(Tls {
        ca_crt: ca_crt.pem(),
        crt: crt.pem(),
        key: key.serialize_pem(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "sts-gen");
    dn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_ca_and_a_node_certificate_it_signed() {
        let sans = vec![
            "es-0.es-headless".to_owned(),
            "*.es-headless.search.svc".to_owned(),
            "127.0.0.1".to_owned(),
        ];
        let t = generate("es CA", "es", &sans).unwrap();
        assert!(t.ca_crt.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(t.crt.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(t.key.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = generate("es CA", "es", &sans).unwrap();
        assert_ne!(t.key, again.key, "fresh randomness every time");

        // Where openssl is installed, check the chain and the names for real.
        let dir = std::env::temp_dir().join(format!("sts-gen-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), &t.ca_crt).unwrap();
        std::fs::write(dir.join("tls.crt"), &t.crt).unwrap();
        for host in ["es-0.es-headless", "es-7.es-headless.search.svc"] {
            let verify = std::process::Command::new("openssl")
                .args([
                    "verify",
                    "-CAfile",
                    "ca.crt",
                    "-verify_hostname",
                    host,
                    "tls.crt",
                ])
                .current_dir(&dir)
                .output();
            if let Ok(out) = verify {
                let msg = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(out.status.success(), "{host}: {msg}");
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

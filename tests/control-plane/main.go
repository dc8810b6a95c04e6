// A Kubernetes control plane for sts-gen's tests, in one process on loopback: embedded etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, from the official modules of one
// release (see go.mod). No kubelet: nodes and pod status are the tests' business.
//
// It makes a CA, the apiserver's serving certificate, an admin client certificate
// (system:masters) and a service-account signing key in its directory, writes a kubeconfig there,
// starts everything, waits for /readyz and prints "kubeconfig: PATH" on stdout. SIGINT or SIGTERM
// stops it; a temporary directory (no --dir) is removed on the way out.
//
//	control-plane [--dir DIR] [--port N] [-v N] [--stop-on-eof]
//
// With --stop-on-eof it also stops when its standard input reaches end of file: a test harness
// that holds the write end of a pipe stops it by exiting, however it exits.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kcmoptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"

	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as the binaries have them
	_ "time/tzdata"                                       // CronJob time zones
)

func main() {
	dir := flag.String("dir", "", "directory for certificates, kubeconfig and etcd data (default: a temporary one, removed on exit)")
	port := flag.Int("port", 0, "kube-apiserver port on 127.0.0.1 (default: a free one)")
	verbosity := flag.Int("v", 0, "log verbosity of the Kubernetes components (klog)")
	stopOnEOF := flag.Bool("stop-on-eof", false, "stop when standard input reaches end of file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *stopOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	if err := run(ctx, *dir, *port, *verbosity); err != nil {
		fmt.Fprintf(os.Stderr, "control-plane: error: %v\n", err)
		os.Exit(1)
	}
}

// files are the paths run writes before it starts anything.
type files struct {
	dir, caCert, caKey, servingCert, servingKey, saKey, kubeconfig, etcd, certDir string
}

func run(ctx context.Context, dir string, port, verbosity int) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "sts-gen-control-plane-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	f := files{
		dir:         dir,
		caCert:      filepath.Join(dir, "ca.crt"),
		caKey:       filepath.Join(dir, "ca.key"),
		servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey:  filepath.Join(dir, "apiserver.key"),
		saKey:       filepath.Join(dir, "service-account.key"),
		kubeconfig:  filepath.Join(dir, "kubeconfig"),
		etcd:        filepath.Join(dir, "etcd"),
		certDir:     filepath.Join(dir, "certs"),
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
	}
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	if err := writeCredentials(f, server); err != nil {
		return err
	}

	started := time.Now()
	etcd, err := startEtcd(f.etcd)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()
	etcdURL := etcd.Clients[0].Addr().String()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Each component reports here when its Run returns; one that fails stops the others.
	done := make(chan error, 3)
	launched := 0
	component := func(name string, start func(context.Context) error) {
		launched++
		go func() {
			err := start(ctx)
			switch {
			case ctx.Err() != nil:
				err = nil // stopping: the scheduler, for one, says "finished without leader elect"
			case err != nil:
				err = fmt.Errorf("%s: %w", name, err)
			default:
				err = fmt.Errorf("%s stopped", name)
			}
			done <- err
			cancel()
		}()
	}

	apiserver, err := apiserverConfig(ctx, f, port, etcdURL, verbosity)
	if err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	component("kube-apiserver", func(ctx context.Context) error { return apiserverapp.Run(ctx, apiserver) })

	if err := waitReady(ctx, f.kubeconfig); err != nil {
		cancel()
		return errors.Join(err, wait(ctx, done, &launched))
	}
	apiReady := time.Since(started)

	component("kube-controller-manager", func(ctx context.Context) error { return runControllerManager(ctx, f) })
	component("kube-scheduler", func(ctx context.Context) error { return runScheduler(ctx, f) })

	fmt.Printf("kubeconfig: %s\n", f.kubeconfig)
	fmt.Printf("server: %s\n", server)
	fmt.Printf("ready: %.1fs\n", apiReady.Seconds())
	_ = os.Stdout.Sync()

	return wait(ctx, done, &launched)
}

// wait blocks until ctx ends, then collects the components' results: the first real error wins.
func wait(ctx context.Context, done <-chan error, launched *int) error {
	<-ctx.Done()
	var first error
	for ; *launched > 0; *launched-- {
		select {
		case err := <-done:
			if first == nil && err != nil && !errors.Is(err, context.Canceled) {
				first = err
			}
		case <-time.After(30 * time.Second):
			return errors.Join(first, fmt.Errorf("%d components did not stop within 30s", *launched))
		}
	}
	return first
}

// apiserverFlags are kube-apiserver's flags as a kubeadm cluster sets them, on loopback. The
// admission plugins are the defaults (Pod Security among them) plus NodeRestriction; privileged
// containers are allowed as in kubeadm, so Pod Security alone decides per namespace.
func apiserverFlags(f files, port int, etcdURL string, verbosity int) []string {
	return []string{
		"--etcd-servers=http://" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + f.certDir,
		"--tls-cert-file=" + f.servingCert,
		"--tls-private-key-file=" + f.servingKey,
		"--client-ca-file=" + f.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f.saKey,
		"--service-account-signing-key-file=" + f.saKey,
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		// No kubelet or kube-proxy: the "kubernetes" Service gets no endpoints (a loopback
		// address is not a valid endpoint).
		"--endpoint-reconciler-type=none",
		"--v=" + strconv.Itoa(verbosity),
	}
}

func apiserverConfig(ctx context.Context, f files, port int, etcdURL string, verbosity int) (apiserveroptions.CompletedOptions, error) {
	s := apiserveroptions.NewServerRunOptions()
	if err := parse("kube-apiserver", s.Flags(), apiserverFlags(f, port, etcdURL, verbosity)); err != nil {
		return apiserveroptions.CompletedOptions{}, err
	}
	registry := s.GenericServerRunOptions.ComponentGlobalsRegistry
	if err := registry.Set(); err != nil {
		return apiserveroptions.CompletedOptions{}, err
	}
	// Logging is global to the process: set up once, here, for all components.
	if err := logsapi.ValidateAndApply(s.Logs, registry.FeatureGateFor("kube")); err != nil {
		return apiserveroptions.CompletedOptions{}, err
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return apiserveroptions.CompletedOptions{}, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return apiserveroptions.CompletedOptions{}, errors.Join(errs...)
	}
	return completed, nil
}

func runControllerManager(ctx context.Context, f files) error {
	s, err := kcmoptions.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	all, off, aliases := kcmapp.KnownControllers(), kcmapp.ControllersDisabledByDefault(), kcmapp.ControllerAliases()
	err = parse("kube-controller-manager", s.Flags(all, off, aliases), []string{
		"--kubeconfig=" + f.kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + f.saKey,
		"--root-ca-file=" + f.caCert,
		"--cluster-signing-cert-file=" + f.caCert,
		"--cluster-signing-key-file=" + f.caKey,
		"--controllers=*,bootstrapsigner,tokencleaner",
	})
	if err != nil {
		return err
	}
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	c, err := s.Config(ctx, all, off, aliases)
	if err != nil {
		return err
	}
	return kcmapp.Run(ctx, c.Complete())
}

func runScheduler(ctx context.Context, f files) error {
	opts := scheduleroptions.NewOptions()
	err := parse("kube-scheduler", *opts.Flags, []string{
		"--kubeconfig=" + f.kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
	})
	if err != nil {
		return err
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	cc, sched, err := schedulerapp.Setup(ctx, opts)
	if err != nil {
		return err
	}
	return schedulerapp.Run(ctx, cc, sched)
}

// parse reads args into a component's flag sets, as its command line would.
func parse(name string, sets cliflag.NamedFlagSets, args []string) error {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	for _, set := range sets.FlagSets {
		fs.AddFlagSet(set)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s flags: %w", name, err)
	}
	return nil
}

func startEtcd(dir string) (*embed.Etcd, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "control-plane"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true // throw-away test data; fsync only slows the tests
	client := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(clientPort)}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(peerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("not ready within 60s")
	}
}

// waitReady polls /readyz with the admin kubeconfig until it answers "ok".
func waitReady(ctx context.Context, kubeconfig string) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	config.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	deadline := time.After(120 * time.Second)
	var last error
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped before /readyz: %w", ctx.Err())
		case <-deadline:
			return fmt.Errorf("/readyz not ok within 120s: %v", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeCredentials makes a CA, the apiserver's serving certificate, an admin client certificate,
// the service-account key, and a kubeconfig that trusts the CA and logs in as the admin.
func writeCredentials(f files, server string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTemplate := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "sts-gen-test-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := sign(caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	servingDER, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now,
		NotAfter:    now.Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")},
	}, ca, &servingKey.PublicKey, caKey)
	if err != nil {
		return err
	}

	adminKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	adminDER, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
		NotBefore:   now,
		NotAfter:    now.Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &adminKey.PublicKey, caKey)
	if err != nil {
		return err
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}

	caPEM := pemBlock("CERTIFICATE", caDER)
	caKeyPEM, err := ecKeyPEM(caKey)
	if err != nil {
		return err
	}
	servingKeyPEM, err := ecKeyPEM(servingKey)
	if err != nil {
		return err
	}
	adminKeyPEM, err := ecKeyPEM(adminKey)
	if err != nil {
		return err
	}
	for path, data := range map[string][]byte{
		f.caCert:      caPEM,
		f.caKey:       caKeyPEM,
		f.servingCert: append(pemBlock("CERTIFICATE", servingDER), caPEM...),
		f.servingKey:  servingKeyPEM,
		f.saKey:       pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}

	config := clientcmdapi.NewConfig()
	config.Clusters["sts-gen-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	config.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: pemBlock("CERTIFICATE", adminDER),
		ClientKeyData:         adminKeyPEM,
	}
	config.Contexts["sts-gen-test"] = &clientcmdapi.Context{Cluster: "sts-gen-test", AuthInfo: "admin"}
	config.CurrentContext = "sts-gen-test"
	return clientcmd.WriteToFile(*config, f.kubeconfig)
}

var serial int64

func sign(template, parent *x509.Certificate, pub any, key *ecdsa.PrivateKey) ([]byte, error) {
	serial++
	template.SerialNumber = big.NewInt(time.Now().UnixNano() + serial)
	return x509.CreateCertificate(rand.Reader, template, parent, pub, key)
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func ecKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

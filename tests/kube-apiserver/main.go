// Command kube-apiserver-test runs a real kube-apiserver (k8s.io/kubernetes
// cmd/kube-apiserver/app, the same code as the release binary) backed by an
// embedded etcd (go.etcd.io/etcd/server/v3/embed), both on 127.0.0.1 only.
//
// When /readyz answers 200 it atomically writes a kubeconfig (token auth,
// CA data for the generated serving cert) to -kubeconfig and prints
// "READY https://127.0.0.1:PORT" on stdout. It runs until SIGTERM/SIGINT.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-apiserver-test:", err)
		os.Exit(1)
	}
}

func writePEM(path, typ string, der []byte) {
	must(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// makePKI writes ca.crt, serving.crt/key (127.0.0.1, localhost) and sa.key.
func makePKI(dir string) (caPEM []byte) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kube-apiserver-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)
	writePEM(filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER)

	srvKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	must(err)
	writePEM(filepath.Join(dir, "serving.crt"), "CERTIFICATE", srvDER)
	writePEM(filepath.Join(dir, "serving.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(srvKey))

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	writePEM(filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey))
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func startEtcd(dir string) (*embed.Etcd, string) {
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", freePort())}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", freePort())}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	must(err)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		must(fmt.Errorf("embedded etcd did not become ready"))
	}
	return e, client.String()
}

const kubeconfigTmpl = `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
    namespace: default
current-context: test
`

func waitReadyAndWriteKubeconfig(ctx context.Context, server, token string, caPEM []byte, path string) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		req, _ := http.NewRequest("GET", server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
	}
	b64 := base64.StdEncoding.EncodeToString(caPEM)
	tmp := path + ".tmp"
	must(os.WriteFile(tmp, []byte(fmt.Sprintf(kubeconfigTmpl, server, b64, token)), 0o600))
	must(os.Rename(tmp, path))
	fmt.Printf("READY %s\n", server)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path to write the admin kubeconfig to once /readyz is OK (required)")
	port := flag.Int("port", 0, "secure port on 127.0.0.1 (0 = pick a free one)")
	dataDir := flag.String("data-dir", "", "directory for etcd data and certs (default: a temp dir, removed on exit)")
	verbosity := flag.String("v", "0", "kube-apiserver log verbosity")
	flag.Parse()
	if *kubeconfig == "" {
		must(fmt.Errorf("-kubeconfig is required"))
	}
	dir := *dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "kube-apiserver-test-")
		must(err)
		dir = d
		defer os.RemoveAll(dir)
	}
	must(os.MkdirAll(dir, 0o700))
	if *port == 0 {
		*port = freePort()
	}

	caPEM := makePKI(dir)
	tokBytes := make([]byte, 16)
	_, _ = rand.Read(tokBytes)
	token := hex.EncodeToString(tokBytes)
	tokenFile := filepath.Join(dir, "tokens.csv")
	must(os.WriteFile(tokenFile, []byte(token+`,admin,admin-uid,"system:masters"`+"\n"), 0o600))

	etcd, etcdURL := startEtcd(dir)
	defer etcd.Close()

	server := fmt.Sprintf("https://127.0.0.1:%d", *port)
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", *port),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--tls-cert-file=" + filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(dir, "serving.key"),
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none",
		"--v=" + *verbosity,
	})
	ctx, cancel := context.WithCancel(context.Background())
	go waitReadyAndWriteKubeconfig(ctx, server, token, caPEM, *kubeconfig)
	code := cli.Run(cmd) // returns after SIGTERM/SIGINT (graceful shutdown)
	cancel()
	os.Remove(*kubeconfig)
	etcd.Close()
	if *dataDir == "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

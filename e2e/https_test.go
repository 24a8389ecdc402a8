package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestClientAPIOverHTTPS: with --http-tls-cert and --http-tls-key the client API speaks HTTPS
// only; a certificate replaced on disk is served after SIGHUP, without a restart.
func TestClientAPIOverHTTPS(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	dir := filepath.Join(t.TempDir(), "certs")
	// Any CA will do for the client API; the cluster's tool makes a usable one.
	if _, err := clustertls.Init(dir, []string{"web"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(clustertls.CAFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: clustertls.ServerName},
	}}
	cfg := config(redis.URL)
	cfg.Client = client
	n := enginetest.NewNode(t, cfg, "https")
	n.Raft = "127.0.0.1:0"
	n.Base = "https://" + n.HTTP
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	n.Start("--bootstrap", "--model", enginetest.WriteModel(t, clusterModel(drv)),
		"--http-tls-cert", clustertls.CertFile(dir, "web"), "--http-tls-key", clustertls.KeyFile(dir, "web"))
	n.WaitReady()
	if r := n.Do("POST", "/api/engine/v2/modules/mod-01/exec/echo", `[1]`); r.Status != 200 {
		t.Fatalf("execute over HTTPS: %d %s", r.Status, r.Body)
	}
	if r, err := http.Get("http://" + n.HTTP + "/"); err == nil {
		_ = r.Body.Close()
		if r.StatusCode < 400 {
			t.Fatalf("plain HTTP answered %d", r.StatusCode)
		}
	}
	serial := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", n.HTTP, &tls.Config{RootCAs: pool, ServerName: clustertls.ServerName})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	for _, f := range []string{clustertls.CertFile(dir, "web"), clustertls.KeyFile(dir, "web")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := clustertls.Init(dir, []string{"web"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	n.Reload()
	n.Eventually(10*time.Second, "the new certificate served", func() bool { return serial() != before })
	n.WaitLog(5*time.Second, "client API certificate reloaded")
}

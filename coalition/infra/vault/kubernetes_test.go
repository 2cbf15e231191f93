package vault_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	authv1 "k8s.io/api/authentication/v1"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/vaultdev"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
)

// kubeAPI stands in for the one call of the Kubernetes API that Vault's
// Kubernetes auth method makes: TokenReview. No cluster runs here, so this
// loopback TLS server plays the API server: it knows the service account
// tokens it "issued" and answers reviews as kube-apiserver does, and only
// to the reviewer's own bearer token.
type kubeAPI struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	reviewer string

	mu       sync.Mutex
	issued   map[string]serviceAccount // token → its account
	reviewed []string                  // tokens Vault asked about, in order
}

type serviceAccount struct{ namespace, name, uid string }

func newKubeAPI(t *testing.T) *kubeAPI {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := &kubeAPI{key: key, reviewer: "reviewer-" + uuid.NewString(), issued: map[string]serviceAccount{}}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *kubeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+k.reviewer {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure",
			"reason": "Unauthorized", "code": 401})
		return
	}
	var review authv1.TokenReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	sa, ok := k.issued[review.Spec.Token]
	k.reviewed = append(k.reviewed, review.Spec.Token)
	k.mu.Unlock()
	review.APIVersion, review.Kind = "authentication.k8s.io/v1", "TokenReview"
	if ok {
		review.Status = authv1.TokenReviewStatus{
			Authenticated: true,
			User: authv1.UserInfo{Username: "system:serviceaccount:" + sa.namespace + ":" + sa.name, UID: sa.uid,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace}},
			// Projected tokens here are all for the audience "vault".
			Audiences: []string{"vault"},
		}
	}
	json.NewEncoder(w).Encode(review)
}

// token issues a projected service account token (RS256, audience aud) as
// the kubelet would mount it.
func (k *kubeAPI) token(t *testing.T, sa serviceAccount, aud string) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local", "aud": []string{aud},
		"sub": "system:serviceaccount:" + sa.namespace + ":" + sa.name,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": uuid.NewString(),
		"kubernetes.io": map[string]any{
			"namespace":      sa.namespace,
			"serviceaccount": map[string]any{"name": sa.name, "uid": sa.uid},
			"pod":            map[string]any{"name": sa.name + "-0", "uid": uuid.NewString()},
		},
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "test"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	tok := signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	k.mu.Lock()
	k.issued[tok] = sa
	k.mu.Unlock()
	return tok
}

// revoked is a well-formed token for sa that the API server no longer
// knows (its pod or secret deleted): TokenReview says not authenticated.
func (k *kubeAPI) revoked(t *testing.T, sa serviceAccount) string {
	tok := k.token(t, sa, "vault")
	k.mu.Lock()
	delete(k.issued, tok)
	k.mu.Unlock()
	return tok
}

func (k *kubeAPI) sawReview(tok string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.reviewed {
		if r == tok {
			return true
		}
	}
	return false
}

// runKubernetesAuthScript runs deploy/k8s/vault/kubernetes-auth.sh, the
// commands an operator runs, with the real Vault CLI, as for a Vault
// outside the cluster.
func runKubernetesAuthScript(t *testing.T, addr, rootToken string, k *kubeAPI) {
	t.Helper()
	bin, err := vaultdev.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "vault")); err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw})
	cmd := exec.Command("sh", "../../../deploy/k8s/vault/kubernetes-auth.sh")
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "HOME="+dir,
		"VAULT_ADDR="+addr, "VAULT_TOKEN="+rootToken,
		"KUBERNETES_HOST="+k.srv.URL, "KUBERNETES_CA_CERT="+string(caPEM), "REVIEWER_JWT="+k.reviewer)
	if out, err := cmd.CombinedOutput(); err != nil {
		// The output names paths and settings, never the tokens (the CLI
		// does not echo what it writes).
		t.Fatalf("kubernetes-auth.sh: %v\n%s", err, out)
	}
}

func TestTheServerLogsInWithItsKubernetesServiceAccountAndGetsOnlyItsPolicy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := startVault(t)
	if _, err := root.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	k := newKubeAPI(t)
	runKubernetesAuthScript(t, root.API().Address(), root.API().Token(), k)
	// Twice, as an operator may: it rewrites the same configuration.
	runKubernetesAuthScript(t, root.API().Address(), root.API().Token(), k)

	server := serviceAccount{namespace: "coalition", name: "coalitiond", uid: uuid.NewString()}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(k.token(t, server, "vault")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := vault.LoginKubernetes(ctx, root.API().Address(), vault.KubernetesLogin{Role: "coalitiond", TokenPath: tokenFile}, quiet)
	if err != nil {
		t.Fatalf("login as coalition/coalitiond: %v", err)
	}
	if _, _, err := c.IssueServerCert(ctx, []string{"localhost"}, time.Hour); err != nil {
		t.Fatalf("the server cannot issue its certificate: %v", err)
	}
	if _, err := c.RevokedSerials(ctx); err != nil {
		t.Fatalf("the server cannot read the revocation list: %v", err)
	}
	if _, err := c.HMAC(ctx, vault.PhoneHashKey, []byte("+79160000001")); err != nil {
		t.Fatalf("the server cannot hash phones: %v", err)
	}
	if _, err := c.IssuePartnerCert(ctx, coalition.NewPartnerID(), "evil", time.Hour); err == nil {
		t.Fatal("the server's Kubernetes login issued a partner certificate")
	}
	if ttl, err := c.Check(ctx); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("the server's token has %s left (%v), want at most the role's 1h", ttl, err)
	}

	refused := map[string]string{
		"another service account":   k.token(t, serviceAccount{"coalition", "default", uuid.NewString()}, "vault"),
		"another namespace":         k.token(t, serviceAccount{"shop", "coalitiond", uuid.NewString()}, "vault"),
		"a token for the API":       k.token(t, server, "https://kubernetes.default.svc"),
		"a token Kubernetes denies": k.revoked(t, server),
	}
	for name, tok := range refused {
		f := filepath.Join(t.TempDir(), "token")
		os.WriteFile(f, []byte(tok), 0o600)
		if _, err := vault.LoginKubernetes(ctx, root.API().Address(), vault.KubernetesLogin{Role: "coalitiond", TokenPath: f}, quiet); err == nil {
			t.Errorf("%s: logged in", name)
		} else if strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the error carries the token", name)
		}
	}
	if _, err := vault.LoginKubernetes(ctx, root.API().Address(), vault.KubernetesLogin{Role: "coalitiond",
		TokenPath: filepath.Join(t.TempDir(), "missing")}, quiet); err == nil {
		t.Error("logged in without a token file")
	}
}

func TestTheKubernetesLoginIsRenewedAndRedoneWithTheRotatedServiceAccountToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := startVault(t)
	if _, err := root.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	k := newKubeAPI(t)
	runKubernetesAuthScript(t, root.API().Address(), root.API().Token(), k)
	// Short-lived Vault tokens, so that the token reaches its maximum TTL
	// and the server must log in again within the test.
	if _, err := root.API().Logical().WriteWithContext(ctx, "auth/kubernetes/role/coalitiond", map[string]any{
		"token_ttl": "2s", "token_max_ttl": "4s",
	}); err != nil {
		t.Fatal(err)
	}
	server := serviceAccount{namespace: "coalition", name: "coalitiond", uid: uuid.NewString()}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(k.token(t, server, "vault")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := vault.LoginKubernetes(ctx, root.API().Address(), vault.KubernetesLogin{Role: "coalitiond", TokenPath: tokenFile, Mount: "kubernetes"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	first := c.API().Token()
	// The kubelet rotates the projected token in place.
	rotated := k.token(t, server, "vault")
	if err := os.WriteFile(tokenFile, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if k.sawReview(rotated) && c.API().Token() != first {
			break
		}
	}
	if !k.sawReview(rotated) || c.API().Token() == first {
		t.Fatal("the server did not log in again with the rotated service account token")
	}
	// Whatever the moment, the client holds a working token: the old one
	// before it lapses, a new one after.
	for i := 0; i < 3; i++ {
		if _, _, err := c.IssueServerCert(ctx, []string{"localhost"}, time.Hour); err == nil {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatal("after logging in again, the server's token does not work")
}

// Package cmdenv tells which environment variables the coalition's commands
// read, taken from the real binaries' --help, so that tests of the
// deployment files (compose, Kubernetes) catch a misspelt variable, which
// the commands would silently ignore.
package cmdenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Binaries are coalitiond and coalitionctl, built from this checkout.
type Binaries struct {
	dir string
}

// Build builds both commands into a temporary folder of t.
func Build(t testing.TB) Binaries {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build coalitiond and coalitionctl: %v", err)
	}
	root, err := exec.Command(goTool, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(goTool, "build", "-o", dir+string(os.PathSeparator), "./cmd/coalitiond", "./cmd/coalitionctl")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build coalitiond and coalitionctl: %v\n%s", err, out)
	}
	return Binaries{dir: dir}
}

// helpVar is a variable named in --help: "($COALITION_DATABASE_URL)",
// "(default $VAULT_ADDR)".
var helpVar = regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`)

// Reads returns the environment variables that a command line reads, from
// the --help of its subcommand: args are the arguments after the program
// name, and the leading ones that are not flags name the subcommand
// (coalitiond serve ..., coalitionctl vault bootstrap ...).
func (b Binaries) Reads(t testing.TB, program string, args []string) map[string]bool {
	t.Helper()
	var sub []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		sub = append(sub, a)
	}
	cmd := exec.Command(filepath.Join(b.dir, program), append(sub, "--help")...)
	cmd.Env = []string{} // defaults in the help must not come from this machine
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s --help: %v\n%s", program, strings.Join(sub, " "), err, out.String())
	}
	vars := map[string]bool{}
	for _, m := range helpVar.FindAllStringSubmatch(out.String(), -1) {
		vars[m[1]] = true
	}
	if len(vars) == 0 {
		t.Fatalf("%s %s --help names no environment variable:\n%s", program, strings.Join(sub, " "), out.String())
	}
	return vars
}

// Ours reports whether a variable is in the coalition's own namespaces
// (COALITION_*, VAULT_*), where a name the command does not read is a
// mistake. VAULT_CACERT and its siblings are read by Vault's client library
// (api.DefaultConfig) rather than by a flag, so they are not ours to check.
func Ours(name string) bool {
	switch name {
	case "VAULT_CACERT", "VAULT_CAPATH", "VAULT_TLS_SERVER_NAME", "VAULT_CLIENT_TIMEOUT", "VAULT_MAX_RETRIES":
		return false
	}
	return strings.HasPrefix(name, "COALITION_") || strings.HasPrefix(name, "VAULT_")
}

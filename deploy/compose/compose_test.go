package compose_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"

	"github.com/coalition-loyalty/coalition/deploy/internal/cmdenv"
)

// coalitionImage is the image deploy/Dockerfile builds for the laptop.
const coalitionImage = "coalition:local"

// load reads compose.yaml as `docker compose config` would: validated
// against the Compose specification's schema, interpolated, normalised,
// with every profile enabled.
func load(t *testing.T) *types.Project {
	t.Helper()
	abs, err := filepath.Abs("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: types.Mapping{}, // nothing from this machine
	}, loader.WithProfiles([]string{"*"}), func(o *loader.Options) {
		o.SetProjectName("coalition", true)
	})
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("compose.yaml has no service %s: %v", name, err)
	}
	return s
}

func TestComposeFileIsValidAndHasEveryPiece(t *testing.T) {
	p := load(t)
	want := []string{"cockroach", "cockroach-init", "vault", "vault-bootstrap", "vault-approle", "migrate", "coalitiond", "otel-collector", "ctl"}
	for _, name := range want {
		service(t, p, name)
	}
	if got := p.ServiceNames(); len(got) != len(want) {
		t.Errorf("services %v, want exactly %v", got, want)
	}
}

func TestCoalitiondStartsAfterTheOneShotSteps(t *testing.T) {
	p := load(t)
	steps := map[string]map[string]string{
		"cockroach-init":  {"cockroach": types.ServiceConditionHealthy},
		"migrate":         {"cockroach-init": types.ServiceConditionCompletedSuccessfully},
		"vault-bootstrap": {"vault": types.ServiceConditionHealthy},
		"vault-approle":   {"vault-bootstrap": types.ServiceConditionCompletedSuccessfully},
		"coalitiond": {
			"migrate":        types.ServiceConditionCompletedSuccessfully,
			"vault-approle":  types.ServiceConditionCompletedSuccessfully,
			"otel-collector": types.ServiceConditionStarted,
		},
	}
	for name, deps := range steps {
		s := service(t, p, name)
		for dep, cond := range deps {
			if got := s.DependsOn[dep].Condition; got != cond {
				t.Errorf("%s depends on %s with condition %q, want %q", name, dep, got, cond)
			}
		}
	}
	for _, name := range []string{"cockroach", "vault"} {
		if service(t, p, name).HealthCheck == nil {
			t.Errorf("%s has no healthcheck, but others wait for it to be healthy", name)
		}
	}
}

func TestCommandsRunWhatTheirNamesSay(t *testing.T) {
	p := load(t)
	for name, want := range map[string][]string{
		"migrate":         {"/usr/local/bin/coalitiond", "migrate"},
		"coalitiond":      {"/usr/local/bin/coalitiond", "serve"},
		"vault-bootstrap": {"/usr/local/bin/coalitionctl", "vault", "bootstrap"},
	} {
		s := service(t, p, name)
		if s.Image != coalitionImage || s.Build == nil {
			t.Errorf("%s: image %q (build %v), want %s built from deploy/Dockerfile", name, s.Image, s.Build != nil, coalitionImage)
		}
		entry := []string(s.Entrypoint)
		if len(entry) == 0 {
			entry = []string{"/usr/local/bin/coalitiond"} // the image's ENTRYPOINT
		}
		got := append(entry, s.Command...)
		if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Errorf("%s runs %q, want it to start with %q", name, got, want)
		}
	}
}

// The Dockerfile's ENTRYPOINT is what the services without an entrypoint
// run, and where the others find coalitionctl.
func TestDockerfileEntrypointIsCoalitiond(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		`ENTRYPOINT ["/usr/local/bin/coalitiond"]`,
		"COPY --from=build /out/coalitiond /out/coalitionctl /usr/local/bin/",
		"CGO_ENABLED=0",
		"-trimpath",
		"USER 65532:65532",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile lacks %q", want)
		}
	}
}

func TestPortsArePublishedOnLoopbackOnly(t *testing.T) {
	p := load(t)
	for _, s := range p.AllServices() {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s:%d on %q: the insecure laptop services must stay on 127.0.0.1", s.Name, port.Published, port.Target, port.HostIP)
			}
		}
	}
}

// The fixed AppRole credentials vault-approle writes are the ones
// coalitiond logs in with.
func TestCoalitiondLogsInWithTheAppRoleThatIsSetUp(t *testing.T) {
	p := load(t)
	script := strings.Join(service(t, p, "vault-approle").Command, " ")
	env := service(t, p, "coalitiond").Environment
	for key, field := range map[string]string{"COALITION_VAULT_ROLE_ID": "role_id=", "COALITION_VAULT_SECRET_ID": "secret_id="} {
		v := env[key]
		if v == nil || *v == "" {
			t.Errorf("coalitiond has no %s", key)
			continue
		}
		if !strings.Contains(script, field+*v) {
			t.Errorf("vault-approle never writes %s%s, which coalitiond uses as %s", field, *v, key)
		}
	}
	if v := env["COALITION_VAULT_TOKEN"]; v != nil {
		t.Errorf("coalitiond has a Vault token (%s): it must log in with its AppRole, as in production", *v)
	}
}

// Every COALITION_* and VAULT_* variable given to a coalition command is
// one that command reads: the commands ignore unknown variables, so a typo
// would otherwise pass unnoticed until the server started with a default.
func TestEnvironmentVariablesAreFlagsOfTheCommand(t *testing.T) {
	p := load(t)
	bins := cmdenv.Build(t)
	checked := 0
	for _, s := range p.AllServices() {
		if s.Image != coalitionImage {
			continue
		}
		program, args := "coalitiond", []string(s.Command)
		if len(s.Entrypoint) > 0 {
			program, args = filepath.Base(s.Entrypoint[0]), append(s.Entrypoint[1:], s.Command...)
		}
		reads := bins.Reads(t, program, args)
		for name := range s.Environment {
			if cmdenv.Ours(name) && !reads[name] {
				t.Errorf("service %s sets %s, which `%s %s` does not read", s.Name, name, program, strings.Join(args, " "))
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no environment variable was checked")
	}
}

// otelConfig is the part of the collector's configuration that ties
// pipelines to components.
type otelConfig struct {
	Receivers  map[string]any `json:"receivers"`
	Processors map[string]any `json:"processors"`
	Exporters  map[string]any `json:"exporters"`
	Extensions map[string]any `json:"extensions"`
	Service    struct {
		Extensions []string `json:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

func TestCollectorConfigWiresEveryPipeline(t *testing.T) {
	p := load(t)
	col := service(t, p, "otel-collector")
	var mounted string
	for _, v := range col.Volumes {
		if v.Target == "/etc/otelcol-contrib/config.yaml" {
			mounted = v.Source
		}
	}
	if mounted == "" {
		t.Fatal("otel-collector mounts no /etc/otelcol-contrib/config.yaml")
	}
	b, err := os.ReadFile(mounted)
	if err != nil {
		t.Fatal(err)
	}
	var cfg otelConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("%s: %v", mounted, err)
	}
	for _, signal := range []string{"traces", "metrics", "logs"} {
		pl, ok := cfg.Service.Pipelines[signal]
		if !ok {
			t.Errorf("no %s pipeline", signal)
			continue
		}
		if len(pl.Receivers) == 0 || len(pl.Exporters) == 0 {
			t.Errorf("%s pipeline needs receivers and exporters", signal)
		}
		for kind, names := range map[string][]string{"receiver": pl.Receivers, "processor": pl.Processors, "exporter": pl.Exporters} {
			defined := map[string]map[string]any{"receiver": cfg.Receivers, "processor": cfg.Processors, "exporter": cfg.Exporters}[kind]
			for _, n := range names {
				if _, ok := defined[n]; !ok {
					t.Errorf("%s pipeline uses %s %q, which is not defined", signal, kind, n)
				}
			}
		}
	}
	for _, n := range cfg.Service.Extensions {
		if _, ok := cfg.Extensions[n]; !ok {
			t.Errorf("service uses extension %q, which is not defined", n)
		}
	}
	// coalitiond exports to the collector's OTLP gRPC port.
	endpoint := service(t, p, "coalitiond").Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
	if endpoint == nil {
		t.Fatal("coalitiond has no OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	u, err := url.Parse(*endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "otel-collector" || u.Port() != "4317" {
		t.Errorf("coalitiond exports to %s, want the otel-collector service's OTLP gRPC port 4317", *endpoint)
	}
	otlp, _ := cfg.Receivers["otlp"].(map[string]any)
	protocols, _ := otlp["protocols"].(map[string]any)
	grpc, _ := protocols["grpc"].(map[string]any)
	if ep, _ := grpc["endpoint"].(string); !strings.HasSuffix(ep, ":4317") {
		t.Errorf("the otlp receiver listens for gRPC on %q, want :4317", ep)
	}
}

// Offline checks of the Kubernetes manifests, for want of a cluster: every
// kustomization is rendered with kustomize's own Go API, every object is
// decoded strictly into its typed k8s.io/api struct (an unknown field, a
// misspelt one, a wrong type or a duplicate key fails), and then checked
// for what the API server would refuse and what a reviewer would ask for.
package k8s_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/coalition-loyalty/coalition/deploy/internal/cmdenv"
)

// kustomizations are every folder with a kustomization.yaml; each renders
// on its own.
var kustomizations = []string{"base", "cockroachdb", "vault", "overlays/dev", "overlays/prod"}

// overlays are the complete deployments.
var overlays = []string{"overlays/dev", "overlays/prod"}

// kinds are the only kinds the manifests may hold, each with its typed
// struct; any other kind fails the test, so that nothing goes unchecked.
var kinds = map[string]func() any{
	"v1/Namespace":                       func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                       func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":                   func() any { return &batchv1.CronJob{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
}

// clusterScoped kinds have no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRoleBinding": true}

// ref names an object.
type ref struct{ kind, namespace, name string }

func (r ref) String() string { return r.kind + " " + r.namespace + "/" + r.name }

// external are the objects the manifests use but do not hold, because they
// carry keys and certificates; docs/DEPLOY.md says how to make each.
var external = map[ref]bool{
	{"Secret", "coalition", "cockroachdb-client-coalitiond"}: true,
	{"ConfigMap", "coalition", "vault-ca"}:                   true,
	{"Secret", "cockroachdb", "cockroachdb-node"}:            true,
	{"Secret", "cockroachdb", "cockroachdb-client-root"}:     true,
}

// object is one rendered object, decoded.
type object struct {
	ref
	obj any
}

// rendering is everything one kustomization renders to.
type rendering struct {
	dir     string
	objects []object
}

// render builds a kustomization as `kustomize build` would and decodes every
// object strictly.
func render(t *testing.T, dir string) rendering {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendering{dir: dir}
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, res.CurId(), err)
		}
		o, err := decode(y)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		r.objects = append(r.objects, o)
	}
	if len(r.objects) == 0 {
		t.Fatalf("%s renders nothing", dir)
	}
	return r
}

// decode converts one object's YAML to JSON and decodes it into its typed
// struct the way the API server does: case-sensitively, refusing unknown
// and duplicate fields. (encoding/json's DisallowUnknownFields alone would
// still take "Replicas" for "replicas".)
func decode(y []byte) (object, error) {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return object{}, fmt.Errorf("YAML: %w\n%s", err, y)
	}
	var meta struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &meta); err != nil {
		return object{}, fmt.Errorf("object header: %w\n%s", err, y)
	}
	id := ref{meta.Kind, meta.Namespace, meta.Name}
	newObj, ok := kinds[meta.APIVersion+"/"+meta.Kind]
	if !ok {
		return object{}, fmt.Errorf("%s: apiVersion %q kind %q is not one this test knows; add its typed struct to kinds", id, meta.APIVersion, meta.Kind)
	}
	obj := newObj()
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", id, err)
	}
	if len(strict) > 0 {
		return object{}, fmt.Errorf("%s: %v", id, strict)
	}
	if clusterScoped[meta.Kind] != (meta.Namespace == "") {
		return object{}, fmt.Errorf("%s: a %s must %shave a namespace", id, meta.Kind, map[bool]string{true: "not ", false: ""}[clusterScoped[meta.Kind]])
	}
	return object{ref: id, obj: obj}, nil
}

func renderAll(t *testing.T, dirs []string) []rendering {
	t.Helper()
	var out []rendering
	for _, d := range dirs {
		out = append(out, render(t, d))
	}
	return out
}

// get returns the object of kind and name in the rendering, or nil.
func get[T any](r rendering, kind, namespace, name string) *T {
	for _, o := range r.objects {
		if o.ref == (ref{kind, namespace, name}) {
			return o.obj.(*T)
		}
	}
	return nil
}

// pod is a pod template and what holds it.
type pod struct {
	owner    ref
	template *corev1.PodTemplateSpec
}

func (r rendering) pods() []pod {
	var out []pod
	for _, o := range r.objects {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, pod{o.ref, &x.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, pod{o.ref, &x.Spec.Template})
		case *batchv1.Job:
			out = append(out, pod{o.ref, &x.Spec.Template})
		case *batchv1.CronJob:
			out = append(out, pod{o.ref, &x.Spec.JobTemplate.Spec.Template})
		}
	}
	return out
}

func allContainers(s *corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(s.InitContainers), s.Containers...)
}

// selects reports whether a selector picks any pod template of the
// namespace, and which.
func (r rendering) selects(namespace string, sel labels.Selector) []pod {
	var out []pod
	for _, p := range r.pods() {
		if p.owner.namespace == namespace && sel.Matches(labels.Set(p.template.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

func TestManifestsRenderAndDecodeStrictly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			seen := map[ref]bool{}
			for _, o := range r.objects {
				if seen[o.ref] {
					t.Errorf("%s twice", o.ref)
				}
				seen[o.ref] = true
			}
		})
	}
}

// A strict decode must refuse what the API server refuses; check the
// checker itself, so that a passing test means something.
func TestStrictDecodingRefusesMistakes(t *testing.T) {
	for name, y := range map[string]string{
		"unknown field":   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, namespace: n1}\nspec: {replicas: 3, replica: 3}\n",
		"misspelt case":   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, namespace: n1}\nspec: {Replicas: 3}\n",
		"wrong type":      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, namespace: n1}\nspec: {replicas: three}\n",
		"bad quantity":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, namespace: n1}\nspec: {template: {spec: {containers: [{name: c, resources: {limits: {memory: 512MiB}}}]}}}\n",
		"duplicate field": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: n1, name: z}\n",
		"unknown kind":    "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: n1}\n",
		"wrong version":   "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: x, namespace: n1}\n",
		"no namespace":    "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n",
	} {
		_, err := decode([]byte(y))
		if err == nil {
			t.Errorf("%s: decoded without an error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := decode([]byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: n1}\n")); err != nil {
		t.Errorf("a valid object: %v", err)
	}
}

// What the API server's validation would refuse in pod templates.
func TestPodTemplatesAreWellFormed(t *testing.T) {
	for _, r := range renderAll(t, kustomizations) {
		for _, p := range r.pods() {
			where := r.dir + ": " + p.owner.String()
			spec := &p.template.Spec
			volumes := map[string]corev1.Volume{}
			if s := get[appsv1.StatefulSet](r, "StatefulSet", p.owner.namespace, p.owner.name); s != nil && p.owner.kind == "StatefulSet" {
				for _, pvc := range s.Spec.VolumeClaimTemplates {
					volumes[pvc.Name] = corev1.Volume{Name: pvc.Name}
				}
			}
			for _, v := range spec.Volumes {
				volumes[v.Name] = v
				for _, mode := range fileModes(v) {
					if mode < 0 || mode > 0o777 {
						t.Errorf("%s: volume %s: file mode %d is not between 0 and 0777 (octal 0440 is 288 in decimal)", where, v.Name, mode)
					}
				}
			}
			spreads := map[string]bool{}
			for _, tsc := range spec.TopologySpreadConstraints {
				if spreads[tsc.TopologyKey] {
					t.Errorf("%s: two topology spread constraints by %s", where, tsc.TopologyKey)
				}
				spreads[tsc.TopologyKey] = true
			}
			names := map[string]bool{}
			for _, c := range allContainers(spec) {
				if names[c.Name] {
					t.Errorf("%s: two containers named %s", where, c.Name)
				}
				names[c.Name] = true
				for _, m := range c.VolumeMounts {
					if _, ok := volumes[m.Name]; !ok {
						t.Errorf("%s: container %s mounts volume %s, which the pod does not have", where, c.Name, m.Name)
					}
				}
				ports := map[string]bool{}
				for _, port := range c.Ports {
					if len(port.Name) > 15 {
						t.Errorf("%s: container %s: port name %q is longer than 15", where, c.Name, port.Name)
					}
					ports[port.Name] = true
				}
				for kind, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
					if pr == nil {
						continue
					}
					var port intstr.IntOrString
					switch {
					case pr.HTTPGet != nil:
						port = pr.HTTPGet.Port
					case pr.TCPSocket != nil:
						port = pr.TCPSocket.Port
					case pr.GRPC != nil:
						port = intstr.FromInt32(pr.GRPC.Port)
					}
					if port.Type == intstr.String && !ports[port.StrVal] {
						t.Errorf("%s: container %s: %s probe uses port %q, which the container does not name", where, c.Name, kind, port.StrVal)
					}
				}
			}
			if sa := spec.ServiceAccountName; sa != "" && get[corev1.ServiceAccount](r, "ServiceAccount", p.owner.namespace, sa) == nil {
				t.Errorf("%s: service account %s is not in the manifests", where, sa)
			}
		}
		for _, o := range r.objects {
			var sel *metav1.LabelSelector
			var tmpl map[string]string
			switch x := o.obj.(type) {
			case *appsv1.Deployment:
				sel, tmpl = x.Spec.Selector, x.Spec.Template.Labels
			case *appsv1.StatefulSet:
				sel, tmpl = x.Spec.Selector, x.Spec.Template.Labels
				if svc := get[corev1.Service](r, "Service", o.namespace, x.Spec.ServiceName); svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
					t.Errorf("%s: %s: serviceName %s is not a headless Service of the manifests", r.dir, o.ref, x.Spec.ServiceName)
				}
			default:
				continue
			}
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil || s.Empty() || !s.Matches(labels.Set(tmpl)) {
				t.Errorf("%s: %s: selector %v does not select its own pod template's labels %v (%v)", r.dir, o.ref, sel, tmpl, err)
			}
		}
	}
}

func fileModes(v corev1.Volume) []int32 {
	var out []int32
	add := func(m *int32) {
		if m != nil {
			out = append(out, *m)
		}
	}
	switch {
	case v.Secret != nil:
		add(v.Secret.DefaultMode)
		for _, i := range v.Secret.Items {
			add(i.Mode)
		}
	case v.ConfigMap != nil:
		add(v.ConfigMap.DefaultMode)
		for _, i := range v.ConfigMap.Items {
			add(i.Mode)
		}
	case v.Projected != nil:
		add(v.Projected.DefaultMode)
	}
	return out
}

// Every ConfigMap and Secret a pod uses is in the manifests (with the key
// it reads) or is one of the documented external objects.
func TestReferencesResolve(t *testing.T) {
	doc, err := os.ReadFile("../../docs/DEPLOY.md")
	if err != nil {
		t.Fatal(err)
	}
	for id := range external {
		if !strings.Contains(string(doc), id.name) {
			t.Errorf("docs/DEPLOY.md does not say how to make %s, which the manifests expect", id)
		}
	}
	for _, r := range renderAll(t, kustomizations) {
		for _, p := range r.pods() {
			ns := p.owner.namespace
			check := func(kind, name, key string) {
				id := ref{kind, ns, name}
				if external[id] {
					return
				}
				var keys []string
				switch kind {
				case "ConfigMap":
					if cm := get[corev1.ConfigMap](r, kind, ns, name); cm != nil {
						for k := range cm.Data {
							keys = append(keys, k)
						}
					} else {
						t.Errorf("%s: %s uses %s, which is neither in the manifests nor documented as external", r.dir, p.owner, id)
						return
					}
				case "Secret":
					if s := get[corev1.Secret](r, kind, ns, name); s != nil {
						for k := range s.Data {
							keys = append(keys, k)
						}
						for k := range s.StringData {
							keys = append(keys, k)
						}
					} else {
						t.Errorf("%s: %s uses %s, which is neither in the manifests nor documented as external", r.dir, p.owner, id)
						return
					}
				}
				if key != "" && !slices.Contains(keys, key) {
					t.Errorf("%s: %s reads key %q of %s, which has only %v", r.dir, p.owner, key, id, keys)
				}
			}
			for _, v := range p.template.Spec.Volumes {
				if v.Secret != nil {
					check("Secret", v.Secret.SecretName, "")
				}
				if v.ConfigMap != nil {
					check("ConfigMap", v.ConfigMap.Name, "")
				}
			}
			for _, c := range allContainers(&p.template.Spec) {
				for _, e := range c.EnvFrom {
					if e.ConfigMapRef != nil {
						check("ConfigMap", e.ConfigMapRef.Name, "")
					}
					if e.SecretRef != nil {
						check("Secret", e.SecretRef.Name, "")
					}
				}
				for _, e := range c.Env {
					if e.ValueFrom == nil {
						continue
					}
					if k := e.ValueFrom.ConfigMapKeyRef; k != nil {
						check("ConfigMap", k.Name, k.Key)
					}
					if k := e.ValueFrom.SecretKeyRef; k != nil {
						check("Secret", k.Name, k.Key)
					}
				}
			}
		}
	}
}

// Services, disruption budgets and network policies select pods that the
// manifests run; a Service's named target ports exist on them.
func TestSelectorsFindTheirPods(t *testing.T) {
	for _, r := range renderAll(t, kustomizations) {
		for _, o := range r.objects {
			switch x := o.obj.(type) {
			case *corev1.Service:
				pods := r.selects(o.namespace, labels.SelectorFromSet(x.Spec.Selector))
				if len(x.Spec.Selector) == 0 || len(pods) == 0 {
					t.Errorf("%s: %s selects no pod of the manifests", r.dir, o.ref)
					continue
				}
				for _, sp := range x.Spec.Ports {
					if sp.TargetPort.Type != intstr.String {
						continue
					}
					for _, p := range pods {
						found := false
						for _, c := range p.template.Spec.Containers {
							for _, cp := range c.Ports {
								found = found || cp.Name == sp.TargetPort.StrVal
							}
						}
						if !found {
							t.Errorf("%s: %s: target port %q is not a port of %s", r.dir, o.ref, sp.TargetPort.StrVal, p.owner)
						}
					}
				}
			case *policyv1.PodDisruptionBudget:
				s, err := metav1.LabelSelectorAsSelector(x.Spec.Selector)
				if err != nil || len(r.selects(o.namespace, s)) == 0 {
					t.Errorf("%s: %s selects no pod of the manifests (%v)", r.dir, o.ref, err)
				}
			case *networkingv1.NetworkPolicy:
				s, err := metav1.LabelSelectorAsSelector(&x.Spec.PodSelector)
				if err != nil || (!s.Empty() && len(r.selects(o.namespace, s)) == 0) {
					t.Errorf("%s: %s applies to no pod of the manifests (%v)", r.dir, o.ref, err)
				}
			}
		}
	}
}

// Every container runs as a non-root user, without privilege escalation or
// capabilities, with a read-only root file system: the namespaces enforce
// the "restricted" Pod Security Standard, which would refuse the pods
// otherwise.
func TestPodsRunAsNonRootWithReadOnlyRootFS(t *testing.T) {
	for _, r := range renderAll(t, kustomizations) {
		for _, p := range r.pods() {
			where := r.dir + ": " + p.owner.String()
			if nsObj := get[corev1.Namespace](r, "Namespace", "", p.owner.namespace); nsObj != nil && nsObj.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("%s: namespace %s does not enforce the restricted Pod Security Standard", where, p.owner.namespace)
			}
			spec := &p.template.Spec
			if spec.HostNetwork || spec.HostPID || spec.HostIPC {
				t.Errorf("%s: uses the host's namespaces", where)
			}
			for _, v := range spec.Volumes {
				if v.HostPath != nil {
					t.Errorf("%s: mounts a host path", where)
				}
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("%s: mounts a Kubernetes API token it does not need", where)
			}
			psc := spec.SecurityContext
			if psc == nil {
				psc = &corev1.PodSecurityContext{}
			}
			for _, c := range allContainers(spec) {
				csc := c.SecurityContext
				if csc == nil {
					csc = &corev1.SecurityContext{}
				}
				nonRoot := first(csc.RunAsNonRoot, psc.RunAsNonRoot)
				uid := first(csc.RunAsUser, psc.RunAsUser)
				seccomp := csc.SeccompProfile
				if seccomp == nil {
					seccomp = psc.SeccompProfile
				}
				switch {
				case nonRoot == nil || !*nonRoot:
					t.Errorf("%s: container %s: runAsNonRoot is not true", where, c.Name)
				case uid == nil || *uid == 0:
					t.Errorf("%s: container %s: no non-zero runAsUser (the image's user would be trusted)", where, c.Name)
				}
				if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
					t.Errorf("%s: container %s: allowPrivilegeEscalation is not false", where, c.Name)
				}
				if csc.Privileged != nil && *csc.Privileged {
					t.Errorf("%s: container %s: privileged", where, c.Name)
				}
				if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
					t.Errorf("%s: container %s: capabilities must drop ALL and add none", where, c.Name)
				}
				if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
					t.Errorf("%s: container %s: no RuntimeDefault or Localhost seccomp profile", where, c.Name)
				}
				if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
					t.Errorf("%s: container %s: root file system is writable", where, c.Name)
				}
			}
		}
	}
}

func first[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// Every container, init containers included, requests CPU and memory and
// is limited in both, limits no lower than requests.
func TestEveryContainerHasResourceLimits(t *testing.T) {
	for _, r := range renderAll(t, kustomizations) {
		for _, p := range r.pods() {
			for _, c := range allContainers(&p.template.Spec) {
				where := fmt.Sprintf("%s: %s: container %s", r.dir, p.owner, c.Name)
				for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, hasReq := c.Resources.Requests[name]
					lim, hasLim := c.Resources.Limits[name]
					if !hasReq || !hasLim {
						t.Errorf("%s: %s request %v / limit %v: both are needed", where, name, hasReq, hasLim)
						continue
					}
					if lim.Cmp(req) < 0 {
						t.Errorf("%s: %s limit %s is below its request %s", where, name, lim.String(), req.String())
					}
				}
			}
		}
	}
}

const ns = "coalition"

// The server as a reviewer would want it, in both overlays.
func TestCoalitiondServer(t *testing.T) {
	for _, r := range renderAll(t, overlays) {
		d := get[appsv1.Deployment](r, "Deployment", ns, "coalitiond")
		if d == nil {
			t.Fatalf("%s: no Deployment coalitiond", r.dir)
		}
		c := container(t, &d.Spec.Template.Spec, "coalitiond")
		if !slices.Equal(c.Args, []string{"serve"}) || len(c.Command) > 0 {
			t.Errorf("%s: the server runs %q %q, want the image's coalitiond with serve", r.dir, c.Command, c.Args)
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.StartupProbe == nil {
			t.Errorf("%s: the server needs startup, readiness and liveness probes", r.dir)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["grpc"] != 7443 || ports["http"] != 8080 || ports["admin"] != 9464 {
			t.Errorf("%s: the server's ports are %v, want grpc 7443, http 8080 and admin 9464", r.dir, ports)
		}
		cfg := configMapFor(t, r, c)
		for key, want := range map[string]string{"COALITION_LISTEN": "0.0.0.0:7443", "COALITION_HTTP_LISTEN": "0.0.0.0:8080",
			"COALITION_ADMIN_LISTEN": "0.0.0.0:9464"} {
			if cfg[key] != want {
				t.Errorf("%s: %s is %q, want %q so that the Service, the probes and Prometheus reach the server", r.dir, key, cfg[key], want)
			}
		}
		// With Vault the HTTP listener serves TLS only, and no plaintext
		// is asked for: the probes must speak HTTPS to it.
		if cfg["COALITION_HTTP_PLAINTEXT"] != "" {
			t.Errorf("%s: COALITION_HTTP_PLAINTEXT is set: API keys would cross the network in clear", r.dir)
		}
		for kind, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if pr != nil && (pr.HTTPGet == nil || pr.HTTPGet.Port.StrVal != "http" || pr.HTTPGet.Scheme != corev1.URISchemeHTTPS) {
				t.Errorf("%s: the %s probe must ask the http port over HTTPS", r.dir, kind)
			}
		}
		// Metrics are scraped from the admin port, not the public one.
		if got := d.Spec.Template.Annotations["prometheus.io/port"]; got != "9464" {
			t.Errorf("%s: prometheus.io/port is %q, want the admin port 9464", r.dir, got)
		}
		// The REST mirror calls the gRPC server as "localhost": the
		// certificate must name it.
		if !slices.Contains(strings.Split(cfg["COALITION_TLS_HOSTS"], ","), "localhost") {
			t.Errorf("%s: COALITION_TLS_HOSTS %q lacks localhost", r.dir, cfg["COALITION_TLS_HOSTS"])
		}
		envs := map[string]bool{}
		for _, e := range c.Env {
			envs[e.Name] = true
		}
		if !envs["COALITION_DATABASE_URL"] {
			t.Errorf("%s: the server has no COALITION_DATABASE_URL", r.dir)
		}
		checkVaultKubernetesLogin(t, r, d, cfg)
		if pdb := get[policyv1.PodDisruptionBudget](r, "PodDisruptionBudget", ns, "coalitiond"); pdb == nil {
			t.Errorf("%s: no PodDisruptionBudget for the server", r.dir)
		}
		if svc := get[corev1.Service](r, "Service", ns, "coalitiond"); svc == nil {
			t.Errorf("%s: no Service for the server", r.dir)
		}
		if get[corev1.Namespace](r, "Namespace", "", ns) == nil {
			t.Errorf("%s: no Namespace %s", r.dir, ns)
		}
	}
}

func TestProductionIsHighlyAvailable(t *testing.T) {
	r := render(t, "overlays/prod")
	d := get[appsv1.Deployment](r, "Deployment", ns, "coalitiond")
	if d == nil {
		t.Fatal("production has no Deployment coalitiond")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 3 {
		t.Errorf("production runs %v coalitiond replicas, want at least 3", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("a rollout may take servers away before their replacements are ready: %+v", ru)
	}
	spread := false
	for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
		spread = spread || (tsc.TopologyKey == "kubernetes.io/hostname" && tsc.WhenUnsatisfiable == corev1.DoNotSchedule)
	}
	if !spread {
		t.Error("production may put two servers on one node")
	}
	s := get[appsv1.StatefulSet](r, "StatefulSet", "cockroachdb", "cockroachdb")
	if s == nil || s.Spec.Replicas == nil || *s.Spec.Replicas != 3 {
		t.Fatal("production needs the three-node CockroachDB StatefulSet")
	}
	if pdb := get[policyv1.PodDisruptionBudget](r, "PodDisruptionBudget", "cockroachdb", "cockroachdb"); pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Error("CockroachDB needs a PodDisruptionBudget of one node at a time")
	}
	db := container(t, &s.Spec.Template.Spec, "cockroachdb")
	if !strings.Contains(strings.Join(db.Command, " "), "--certs-dir") || slices.ContainsFunc(db.Command, func(a string) bool { return strings.Contains(a, "--insecure") }) {
		t.Errorf("CockroachDB must run secure, with certificates: %q", db.Command)
	}
	if db.ReadinessProbe == nil || db.ReadinessProbe.HTTPGet == nil || db.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Error("CockroachDB's readiness probe must ask /health?ready=1 over HTTPS")
	}
	// Images: a released tag or a digest, never a moving one.
	for _, p := range r.pods() {
		for _, c := range allContainers(&p.template.Spec) {
			if tag := imageTag(c.Image); tag == "" || tag == "latest" || tag == "dev" {
				t.Errorf("%s: container %s runs %q: pin a release tag or digest in production", p.owner, c.Name, c.Image)
			}
		}
	}
}

// imageTag returns the tag or digest of an image reference.
func imageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		return image[i+1:]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return ""
}

// The migration Job and the clearing CronJob run the right subcommand;
// the CronJob runs daily shortly after midnight in the coalition's time
// zone, the one the server records for business days.
func TestMigrationAndClearing(t *testing.T) {
	for _, r := range renderAll(t, overlays) {
		j := get[batchv1.Job](r, "Job", ns, "coalitiond-migrate")
		if j == nil {
			t.Fatalf("%s: no migration Job", r.dir)
		}
		if c := container(t, &j.Spec.Template.Spec, "migrate"); !slices.Equal(c.Args, []string{"migrate"}) {
			t.Errorf("%s: the migration Job runs %q", r.dir, c.Args)
		}
		cj := get[batchv1.CronJob](r, "CronJob", ns, "coalitiond-clear")
		if cj == nil {
			t.Fatalf("%s: no clearing CronJob", r.dir)
		}
		if c := container(t, &cj.Spec.JobTemplate.Spec.Template.Spec, "clear"); !slices.Equal(c.Args, []string{"clear"}) {
			t.Errorf("%s: the clearing CronJob runs %q", r.dir, c.Args)
		}
		if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone == "" {
			t.Fatalf("%s: the clearing CronJob has no timeZone: it would follow the control plane's clock", r.dir)
		}
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			t.Errorf("%s: timeZone %q: %v", r.dir, *cj.Spec.TimeZone, err)
		}
		d := get[appsv1.Deployment](r, "Deployment", ns, "coalitiond")
		cfg := configMapFor(t, r, container(t, &d.Spec.Template.Spec, "coalitiond"))
		if tz := cfg["COALITION_TIME_ZONE"]; tz != *cj.Spec.TimeZone {
			t.Errorf("%s: the CronJob runs in %q but business days end in %q", r.dir, *cj.Spec.TimeZone, tz)
		}
		minute, hour, err := dailySchedule(cj.Spec.Schedule)
		if err != nil {
			t.Errorf("%s: schedule %q: %v", r.dir, cj.Spec.Schedule, err)
		} else if hour > 3 || (hour == 0 && minute == 0) {
			t.Errorf("%s: schedule %q: want once a day, after midnight and in the small hours", r.dir, cj.Spec.Schedule)
		}
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("%s: two clearings may run at once", r.dir)
		}
		if cfg["COALITION_CLEARING_INTERVAL"] != "0s" {
			t.Errorf("%s: COALITION_CLEARING_INTERVAL is %q: the CronJob is meant to be the one place clearing runs", r.dir, cfg["COALITION_CLEARING_INTERVAL"])
		}
	}
}

// dailySchedule parses "M H * * *".
func dailySchedule(s string) (minute, hour int, err error) {
	f := strings.Fields(s)
	if len(f) != 5 || f[2] != "*" || f[3] != "*" || f[4] != "*" {
		return 0, 0, fmt.Errorf("not a daily schedule of five fields")
	}
	if minute, err = strconv.Atoi(f[0]); err != nil || minute < 0 || minute > 59 {
		return 0, 0, fmt.Errorf("minute %q", f[0])
	}
	if hour, err = strconv.Atoi(f[1]); err != nil || hour < 0 || hour > 23 {
		return 0, 0, fmt.Errorf("hour %q", f[1])
	}
	return minute, hour, nil
}

// The network policies let the server take partners' connections and reach
// DNS, CockroachDB and Vault, on the ports those actually listen on.
func TestNetworkPoliciesOpenWhatTheServerNeeds(t *testing.T) {
	for _, r := range renderAll(t, overlays) {
		d := get[appsv1.Deployment](r, "Deployment", ns, "coalitiond")
		podLabels := labels.Set(d.Spec.Template.Labels)
		ingress, egress := map[int32]bool{}, map[int32]bool{}
		denyAll := false
		for _, o := range r.objects {
			np, ok := o.obj.(*networkingv1.NetworkPolicy)
			if !ok || o.namespace != ns {
				continue
			}
			s, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if !s.Matches(podLabels) {
				continue
			}
			if s.Empty() && len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
				slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				denyAll = true
			}
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					if p.Port != nil {
						ingress[p.Port.IntVal] = true
						// Metrics and readiness details are for the
						// monitoring stack, not for every client.
						if p.Port.IntVal == 9464 && len(rule.From) == 0 {
							t.Errorf("%s: %s opens the admin port 9464 to everyone", r.dir, np.Name)
						}
					}
				}
			}
			for _, rule := range np.Spec.Egress {
				for _, p := range rule.Ports {
					if p.Port != nil {
						egress[p.Port.IntVal] = true
					}
				}
			}
		}
		if !denyAll {
			t.Errorf("%s: no default-deny policy in %s", r.dir, ns)
		}
		for _, p := range container(t, &d.Spec.Template.Spec, "coalitiond").Ports {
			if !ingress[p.ContainerPort] {
				t.Errorf("%s: no policy lets clients reach the server's port %s (%d)", r.dir, p.Name, p.ContainerPort)
			}
		}
		crdb := get[appsv1.StatefulSet](r, "StatefulSet", "cockroachdb", "cockroachdb")
		for _, p := range container(t, &crdb.Spec.Template.Spec, "cockroachdb").Ports {
			if p.Name == "grpc" && !egress[p.ContainerPort] {
				t.Errorf("%s: the server may not reach CockroachDB's SQL port %d", r.dir, p.ContainerPort)
			}
		}
		for port, what := range map[int32]string{53: "DNS", 8200: "Vault"} {
			if !egress[port] {
				t.Errorf("%s: the server may not reach %s (port %d)", r.dir, what, port)
			}
		}
	}
}

// The variables given to coalitiond are ones the command reads: it ignores
// unknown ones, so a typo would start the server with a default (a
// loopback listen address, or the demo coalition's name).
func TestEnvironmentVariablesAreFlagsOfTheCommand(t *testing.T) {
	bins := cmdenv.Build(t)
	checked := 0
	for _, r := range renderAll(t, overlays) {
		for _, p := range r.pods() {
			for _, c := range allContainers(&p.template.Spec) {
				if !strings.HasPrefix(c.Image, "ghcr.io/coalition-loyalty/coalition:") {
					continue
				}
				program, args := "coalitiond", c.Args
				if len(c.Command) > 0 {
					program, args = filepath.Base(c.Command[0]), append(c.Command[1:], c.Args...)
				}
				reads := bins.Reads(t, program, args)
				names := []string{}
				for _, e := range c.Env {
					names = append(names, e.Name)
				}
				for k := range configMapFor(t, r, &c) {
					names = append(names, k)
				}
				for _, name := range names {
					checked++
					if cmdenv.Ours(name) && !reads[name] {
						t.Errorf("%s: %s: container %s sets %s, which `%s %s` does not read", r.dir, p.owner, c.Name, name, program, strings.Join(args, " "))
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no variable was checked")
	}
}

// The database URL points at CockroachDB's client Service, verifies its
// certificate, and names certificate files where the pods mount them; the
// Vault CA the server is told about is mounted too.
func TestFilesAndAddressesTheCommandsUseExist(t *testing.T) {
	for _, r := range renderAll(t, overlays) {
		public := get[corev1.Service](r, "Service", "cockroachdb", "cockroachdb-public")
		if public == nil {
			t.Fatalf("%s: no Service cockroachdb/cockroachdb-public", r.dir)
		}
		for _, p := range r.pods() {
			if p.owner.namespace != ns {
				continue
			}
			for _, c := range p.template.Spec.Containers {
				mounted := func(file string) bool {
					for _, m := range c.VolumeMounts {
						if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
							return true
						}
					}
					return false
				}
				where := fmt.Sprintf("%s: %s: container %s", r.dir, p.owner, c.Name)
				for _, e := range c.Env {
					if e.Name != "COALITION_DATABASE_URL" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						continue
					}
					sec := get[corev1.Secret](r, "Secret", ns, e.ValueFrom.SecretKeyRef.Name)
					if sec == nil {
						t.Errorf("%s: the database URL's Secret is not in the manifests", where)
						continue
					}
					u, err := url.Parse(string(sec.Data[e.ValueFrom.SecretKeyRef.Key]))
					if err != nil {
						t.Errorf("%s: database URL: %v", where, err)
						continue
					}
					if want := public.Name + "." + public.Namespace + ".svc"; u.Hostname() != want && !strings.HasPrefix(u.Hostname(), want+".") {
						t.Errorf("%s: the database URL's host is %s, want %s", where, u.Hostname(), want)
					}
					if port := u.Port(); port == "" || !slices.ContainsFunc(public.Spec.Ports, func(sp corev1.ServicePort) bool { return strconv.Itoa(int(sp.Port)) == port }) {
						t.Errorf("%s: the database URL's port %q is not a port of %s", where, port, public.Name)
					}
					q := u.Query()
					if q.Get("sslmode") != "verify-full" {
						t.Errorf("%s: the database URL has sslmode=%q, want verify-full", where, q.Get("sslmode"))
					}
					for _, param := range []string{"sslrootcert", "sslcert", "sslkey"} {
						if f := q.Get(param); f != "" && !mounted(f) {
							t.Errorf("%s: the database URL's %s %s is not in a mounted volume", where, param, f)
						}
					}
				}
				if f := configMapFor(t, r, &c)["VAULT_CACERT"]; f != "" && !mounted(f) {
					t.Errorf("%s: VAULT_CACERT %s is not in a mounted volume", where, f)
				}
			}
		}
	}
}

func container(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

// configMapFor merges the ConfigMaps a container takes its environment
// from (envFrom) that are in the rendering.
func configMapFor(t *testing.T, r rendering, c *corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef == nil {
			continue
		}
		for _, o := range r.objects {
			if cm, ok := o.obj.(*corev1.ConfigMap); ok && o.name == e.ConfigMapRef.Name {
				for k, v := range cm.Data {
					out[e.Prefix+k] = v
				}
			}
		}
	}
	return out
}

// nameSuffix matches the hash kustomize appends to generated names.
var nameSuffix = regexp.MustCompile(`-[a-z0-9]{10}$`)

// Generated ConfigMaps and Secrets carry a content hash in their names, so
// that a change rolls the pods that use them.
func TestGeneratedConfigRollsThePods(t *testing.T) {
	for _, r := range renderAll(t, overlays) {
		for _, want := range []ref{{"ConfigMap", ns, "coalitiond"}, {"Secret", ns, "coalitiond-database"}} {
			found := false
			for _, o := range r.objects {
				if o.kind == want.kind && o.namespace == want.namespace && strings.HasPrefix(o.name, want.name+"-") && nameSuffix.MatchString(o.name) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no generated %s with a content hash", r.dir, want)
			}
		}
	}
}

// checkVaultKubernetesLogin: the server logs in to Vault with the
// Kubernetes auth role that deploy/k8s/vault/kubernetes-auth.sh writes, as
// the ServiceAccount that role is bound to, with a projected token for the
// audience the role demands, mounted where the server reads it; and with
// no AppRole secret beside it.
func checkVaultKubernetesLogin(t *testing.T, r rendering, d *appsv1.Deployment, cfg map[string]string) {
	t.Helper()
	script, err := os.ReadFile("vault/kubernetes-auth.sh")
	if err != nil {
		t.Fatal(err)
	}
	setting := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(string(script))
		if m == nil {
			t.Fatalf("kubernetes-auth.sh: no %s", re)
		}
		return m[1]
	}
	role := setting(`auth/kubernetes/role/(\S+)`)
	account := setting(`bound_service_account_names=(\S+)`)
	namespace := setting(`bound_service_account_namespaces=(\S+)`)
	audience := setting(`audience=(\S+)`)
	spec := &d.Spec.Template.Spec
	c := container(t, spec, "coalitiond")
	if cfg["COALITION_VAULT_KUBERNETES_ROLE"] != role {
		t.Errorf("%s: the server logs in as Vault role %q, want %q (kubernetes-auth.sh)", r.dir, cfg["COALITION_VAULT_KUBERNETES_ROLE"], role)
	}
	if spec.ServiceAccountName != account || d.Namespace != namespace {
		t.Errorf("%s: the server runs as %s/%s, but the Vault role is bound to %s/%s", r.dir, d.Namespace, spec.ServiceAccountName, namespace, account)
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "COALITION_VAULT_ROLE_ID") || strings.HasPrefix(e.Name, "COALITION_VAULT_SECRET_ID") {
			t.Errorf("%s: the server is given %s besides its Kubernetes login", r.dir, e.Name)
		}
	}
	file := cfg["COALITION_VAULT_KUBERNETES_TOKEN_FILE"]
	found := false
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if !strings.HasPrefix(file, dir) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if sat := src.ServiceAccountToken; sat != nil && sat.Path == strings.TrimPrefix(file, dir) {
					found = true
					if sat.Audience != audience {
						t.Errorf("%s: the Vault token's audience is %q, the Vault role wants %q", r.dir, sat.Audience, audience)
					}
				}
			}
		}
	}
	if !found {
		t.Errorf("%s: COALITION_VAULT_KUBERNETES_TOKEN_FILE %q is not a projected service account token", r.dir, file)
	}
}

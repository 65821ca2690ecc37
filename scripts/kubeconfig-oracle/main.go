// Command kubeconfig-oracle loads kubeconfig sets with client-go (the copy vendored in Debian's kubernetes
// 1.20.2 source tree) and prints what client-go resolved, so incluster_sdk's loader can be compared with it.
//
// It is built by scripts/install-kube-binaries.sh inside that tree (as cmd/kubeconfig-oracle) and driven by
// tests/conformance/oracle.py, whose docstring holds the protocol: one JSON request per line on stdin, one JSON
// answer per line on stdout, until EOF.
//
// Every step goes through client-go's own functions (loading rules, DirectClientConfig, rest.Config, the typed
// core client, rest.TransportFor, the exec authenticator, rest.ConfigToExecCluster); this program only reads
// the results. It never sends a request and never runs an exec plugin: building the transport creates the exec
// authenticator, and the plugin would only run on the first request.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/pkg/apis/clientauthentication"
	"k8s.io/client-go/pkg/apis/clientauthentication/v1alpha1"
	"k8s.io/client-go/pkg/apis/clientauthentication/v1beta1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

type request struct {
	Cwd        string    `json:"cwd"`
	Kubeconfig *[]string `json:"kubeconfig"`
	Explicit   *string   `json:"explicit"`
	Context    string    `json:"context"`
}

type execAnswer struct {
	Command            string          `json:"command"`
	Args               []string        `json:"args"`
	Env                [][2]string     `json:"env"`
	APIVersion         string          `json:"apiVersion"`
	InstallHint        string          `json:"installHint"`
	ProvideClusterInfo bool            `json:"provideClusterInfo"`
	InteractiveMode    string          `json:"interactiveMode"`
	Cluster            json.RawMessage `json:"cluster"`
}

type answer struct {
	OK             bool        `json:"ok"`
	Error          string      `json:"error,omitempty"`
	Stage          string      `json:"stage,omitempty"`
	Context        string      `json:"context"`
	Namespace      string      `json:"namespace"`
	Host           string      `json:"host"`
	ServerName     string      `json:"server_name"`
	Insecure       bool        `json:"insecure"`
	CASHA256       *string     `json:"ca_sha256"`
	CertSHA256     *string     `json:"cert_sha256"`
	KeySHA256      *string     `json:"key_sha256"`
	TokenSHA256    *string     `json:"token_sha256"`
	TokenFile      *string     `json:"token_file"`
	Username       *string     `json:"username"`
	PasswordSHA256 *string     `json:"password_sha256"`
	Exec           *execAnswer `json:"exec"`
	ExecUsed       bool        `json:"exec_used"`
	ProxyURL       *string     `json:"proxy_url"`
}

// failure is the compact error answer: only ok, error and stage.
type failure struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Stage string `json:"stage"`
}

// The exec authenticator encodes ExecCredential with a scheme private to its package
// (plugin/pkg/client/auth/exec); this one is built by the same calls as its init().
var (
	execScheme = runtime.NewScheme()
	execCodecs = serializer.NewCodecFactory(execScheme)
)

func init() {
	metav1.AddToGroupVersion(execScheme, schema.GroupVersion{Version: "v1"})
	utilruntime.Must(v1alpha1.AddToScheme(execScheme))
	utilruntime.Must(v1beta1.AddToScheme(execScheme))
	utilruntime.Must(clientauthentication.AddToScheme(execScheme))
}

func sha(b []byte) *string {
	s := sha256.Sum256(b)
	h := hex.EncodeToString(s[:])
	return &h
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// fileOrData mirrors what the transport uses: the data if given, else the file's content (already read once
// by the transport, so a failure here means the file changed in between).
func fileOrData(data []byte, file string) (*string, error) {
	if len(data) > 0 {
		return sha(data), nil
	}
	if file == "" {
		return nil, nil
	}
	content, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return sha(content), nil
}

// execCluster returns the spec.cluster of the ExecCredential the plugin would receive in KUBERNETES_EXEC_INFO,
// encoded as the exec authenticator encodes it (in the plugin's own apiVersion), or JSON null.
func execCluster(cfg *rest.Config) (json.RawMessage, error) {
	null := json.RawMessage("null")
	if cfg.ExecProvider == nil || !cfg.ExecProvider.ProvideClusterInfo {
		return null, nil
	}
	cluster, err := rest.ConfigToExecCluster(cfg)
	if err != nil {
		return nil, err
	}
	gv, err := schema.ParseGroupVersion(cfg.ExecProvider.APIVersion)
	if err != nil {
		return nil, err
	}
	cred := &clientauthentication.ExecCredential{
		Spec: clientauthentication.ExecCredentialSpec{Cluster: cluster},
	}
	data, err := runtime.Encode(execCodecs.LegacyCodec(gv), cred)
	if err != nil {
		return nil, err
	}
	var decoded struct {
		Spec struct {
			Cluster json.RawMessage `json:"cluster"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &decoded); err != nil {
		return nil, err
	}
	if len(decoded.Spec.Cluster) == 0 {
		return null, nil // v1alpha1 has no spec.cluster
	}
	return decoded.Spec.Cluster, nil
}

func resolve(req request, stage *string) interface{} {
	fail := func(err error) interface{} { return failure{Error: err.Error(), Stage: *stage} }

	*stage = "request"
	if (req.Kubeconfig == nil) == (req.Explicit == nil) {
		return fail(fmt.Errorf("exactly one of kubeconfig and explicit must be set"))
	}
	if err := os.Chdir(req.Cwd); err != nil {
		return fail(err)
	}

	*stage = "load"
	// Every field set explicitly: no ~/.kube/config default, no migration rules, no DefaultClientConfig.
	rules := &clientcmd.ClientConfigLoadingRules{}
	if req.Explicit != nil {
		rules.ExplicitPath = *req.Explicit
	} else {
		rules.Precedence = append([]string{}, *req.Kubeconfig...)
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: req.Context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return fail(err)
	}
	namespace, _, err := loader.Namespace()
	if err != nil {
		return fail(err)
	}
	raw, err := loader.RawConfig()
	if err != nil {
		return fail(err)
	}
	contextName := raw.CurrentContext
	if req.Context != "" {
		contextName = req.Context
	}

	// What an application (or kubectl) builds next: a REST client, whose construction computes the base URL
	// (defaultServerUrlFor) and then the transport (TLS material, exec authenticator). Both steps fail in
	// that order inside one call; rest.TransportFor alone tells which of the two the error came from.
	// A Dial function makes client-go skip its process-wide TLS transport cache (transport/cache.go), whose key
	// holds the CA content but not whether a CA was given: without it an answer could depend on earlier ones.
	fresh := func() *rest.Config {
		c := rest.CopyConfig(cfg)
		c.Dial = (&net.Dialer{}).DialContext
		return c
	}
	*stage = "client"
	core, err := corev1client.NewForConfig(fresh())
	if err != nil {
		if _, terr := rest.TransportFor(fresh()); terr != nil && terr.Error() == err.Error() {
			*stage = "transport"
		}
		return fail(err)
	}
	*stage = "transport"
	if _, err := rest.TransportFor(fresh()); err != nil {
		return fail(err) // not expected: NewForConfig built the same transport
	}

	*stage = "client"
	u := core.RESTClient().Get().URL() // base path joined with the core group's versioned path "/api/v1"
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/api/v1"), "/")
	u.RawPath = ""

	ans := answer{
		OK:         true,
		Context:    contextName,
		Namespace:  namespace,
		Host:       u.String(),
		ServerName: cfg.ServerName,
		Insecure:   cfg.Insecure,
		Username:   nonEmpty(cfg.Username),
		TokenFile:  nonEmpty(cfg.BearerTokenFile),
		// client-go's exec authenticator steps aside when the transport has token auth (transport.Config.HasTokenAuth).
		ExecUsed: cfg.ExecProvider != nil && cfg.BearerToken == "" && cfg.BearerTokenFile == "",
	}
	*stage = "transport"
	if ans.CASHA256, err = fileOrData(cfg.CAData, cfg.CAFile); err != nil {
		return fail(err)
	}
	if ans.CertSHA256, err = fileOrData(cfg.CertData, cfg.CertFile); err != nil {
		return fail(err)
	}
	if ans.KeySHA256, err = fileOrData(cfg.KeyData, cfg.KeyFile); err != nil {
		return fail(err)
	}
	if cfg.BearerToken != "" {
		ans.TokenSHA256 = sha([]byte(cfg.BearerToken))
	}
	if cfg.Username != "" && cfg.Password != "" { // what is sent: basic auth needs a username (HasBasicAuth)
		ans.PasswordSHA256 = sha([]byte(cfg.Password))
	}
	if cfg.Proxy != nil {
		proxyReq, err := http.NewRequest("GET", ans.Host, nil)
		if err != nil {
			return fail(err)
		}
		p, err := cfg.Proxy(proxyReq)
		if err != nil {
			return fail(err)
		}
		if p != nil {
			ans.ProxyURL = nonEmpty(p.String())
		}
	}
	if e := cfg.ExecProvider; e != nil {
		cluster, err := execCluster(cfg)
		if err != nil {
			return fail(err)
		}
		env := [][2]string{}
		for _, v := range e.Env {
			env = append(env, [2]string{v.Name, v.Value})
		}
		args := e.Args
		if args == nil {
			args = []string{}
		}
		ans.Exec = &execAnswer{
			Command:            e.Command,
			Args:               args,
			Env:                env,
			APIVersion:         e.APIVersion,
			InstallHint:        e.InstallHint,
			ProvideClusterInfo: e.ProvideClusterInfo,
			InteractiveMode:    "", // client-go 1.20 has no interactiveMode
			Cluster:            cluster,
		}
	}
	return ans
}

func serve(req request) (out interface{}) {
	stage := "request"
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "panic: %v\n%s", r, debug.Stack())
			out = failure{Error: fmt.Sprintf("panic: %v", r), Stage: stage}
		}
	}()
	return resolve(req, &stage)
}

func main() {
	// Nothing from this process's environment may steer loading: no in-cluster fallback, no KUBECONFIG.
	for _, name := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG", "KUBERNETES_MASTER"} {
		os.Unsetenv(name)
	}
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, readErr := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			var req request
			var result interface{}
			if err := json.Unmarshal(line, &req); err != nil {
				result = failure{Error: "bad request: " + err.Error(), Stage: "request"}
			} else {
				result = serve(req)
			}
			if err := enc.Encode(result); err != nil {
				fmt.Fprintf(os.Stderr, "encode: %v\n", err)
				os.Exit(2)
			}
			if err := out.Flush(); err != nil {
				os.Exit(2)
			}
		}
		if readErr == io.EOF {
			return
		}
		if readErr != nil {
			fmt.Fprintf(os.Stderr, "read: %v\n", readErr)
			os.Exit(2)
		}
	}
}

package packaging_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/backupkit/backupkit/config"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// dockerfile returns the Dockerfile's instructions, continuation lines
// joined, comments left out.
func dockerfile(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	var out []string
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		out = append(out, cur+line)
		cur = ""
	}
	return out
}

// built runs the Dockerfile's build step (RUN … go build …) as a plain
// shell command from the repository root, once per test binary, with
// TARGETOS and TARGETARCH set as BuildKit sets them and /out replaced by a
// temporary folder, and returns the binary's path.
func built(t *testing.T) string {
	t.Helper()
	var build string
	for _, ins := range dockerfile(t) {
		if strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, "go build") {
			build = ins
		}
	}
	require.NotEmpty(t, build, "the Dockerfile has no RUN … go build step")
	if testing.Short() {
		t.Skip("packaging: skipped in -short mode: builds backupd as the Dockerfile does")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "backupd-packaging")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "backupd")
		script := regexp.MustCompile(`--mount=\S+`).ReplaceAllString(strings.TrimPrefix(build, "RUN "), "")
		script = strings.ReplaceAll(script, "/out/", dir+"/")
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "TARGETOS=linux", "TARGETARCH="+runtime.GOARCH)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	require.NoError(t, buildErr, "the Dockerfile's build step: %s\n%s", build, buildOut)
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	var froms []string
	for _, i := range ins {
		if strings.HasPrefix(i, "FROM ") {
			froms = append(froms, i)
		}
	}
	require.GreaterOrEqual(t, len(froms), 2, "multi-stage")
	final := froms[len(froms)-1]
	assert.Regexp(t, `^FROM (gcr\.io/distroless/static\S*|scratch)\b`, final, "the runtime image is distroless static or scratch")

	// The runtime stage runs as a non-root user and starts backupd.
	last := slices.Index(ins, final)
	var user, entry string
	for _, i := range ins[last:] {
		switch {
		case strings.HasPrefix(i, "USER "):
			user = strings.TrimPrefix(i, "USER ")
		case strings.HasPrefix(i, "ENTRYPOINT "):
			entry = i
		}
	}
	require.NotEmpty(t, user, "USER in the runtime stage")
	uid, _, _ := strings.Cut(user, ":")
	assert.NotContains(t, []string{"0", "root"}, uid)
	assert.Contains(t, entry, "/usr/local/bin/backupd")

	// The builder's Go is the module's.
	mod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	require.NotNil(t, goLine)
	assert.Contains(t, ins, "ARG GO_VERSION="+string(goLine[1]))

	// The build step gives a static binary (CGO off, so the SQLite driver
	// must be pure Go) that runs.
	bin := built(t)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "the binary needs a dynamic loader: not for distroless/static")
	}
	libs, _ := f.ImportedLibraries()
	assert.Empty(t, libs, "the binary links shared libraries")
	out, err := exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "backupd ")

	// The ignore file keeps what the build needs.
	ignore, err := os.ReadFile("Dockerfile.dockerignore")
	require.NoError(t, err)
	for _, keep := range []string{"go.mod", "go.sum", "cmd", "*.go"} {
		assert.NotRegexp(t, `(?m)^`+regexp.QuoteMeta(keep)+`$`, string(ignore))
	}
}

func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("packaging: skipped, no systemd-analyze on this machine")
	}
	unit, err := os.ReadFile("backupd.service")
	require.NoError(t, err)
	text := string(unit)
	for _, want := range []string{"ExecStart=/usr/local/bin/backupd serve ", "DynamicUser=yes", "ProtectSystem=strict",
		"ReadWritePaths=", "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID"} {
		assert.Contains(t, text, want)
	}
	// verify wants the binary to exist: point the copy at the one built.
	dir := t.TempDir()
	path := filepath.Join(dir, "backupd.service")
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(text, "/usr/local/bin/backupd", built(t))), 0o644))
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify found problems")

	out, err = exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("offline")) {
		t.Logf("systemd-analyze security --offline is not supported here: %s", out)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for backupd\.service: ([0-9.]+)`).FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	level, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	t.Logf("systemd-analyze security: exposure %.1f (0 best, 10 worst)", level)
	assert.Less(t, level, 3.0, "the unit's exposure level (systemd-analyze security) should stay OK")
}

// k8sObject is the part of a Kubernetes object the checks read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
}

type container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	Args            []string `yaml:"args"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	EnvFrom []struct {
		SecretRef struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []volume    `yaml:"volumes"`
}

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	objects := map[string]k8sObject{} // kind/name
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o k8sObject
			if err := dec.Decode(&o); err != nil {
				require.ErrorContains(t, err, "EOF", f)
				break
			}
			require.NotEmpty(t, o.APIVersion, f)
			require.NotEmpty(t, o.Kind, f)
			require.NotEmpty(t, o.Metadata.Name, f)
			objects[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	for _, want := range []string{"ConfigMap/backupd-config", "Secret/backupd-credentials", "Deployment/backupd", "Service/backupd", "CronJob/backupd-reports"} {
		require.Contains(t, objects, want)
	}

	// The configuration in the ConfigMap is valid, with the Secret's keys
	// as the environment, and uses no variable the Secret lacks.
	secret := objects["Secret/backupd-credentials"].StringData
	var missing []string
	opts := config.Options{LookupEnv: func(name string) (string, bool) {
		v, ok := secret[name]
		if !ok {
			missing = append(missing, name)
		}
		return v, ok
	}}
	cfgText := objects["ConfigMap/backupd-config"].Data["backupd.yaml"]
	require.NotEmpty(t, cfgText)
	cfg, err := opts.Parse([]byte(cfgText), "/etc/backupd", "configmap.yaml:backupd.yaml")
	require.NoError(t, err)
	assert.Empty(t, missing)

	pod := func(o k8sObject, path ...string) podSpec {
		n := &o.Spec
		for _, key := range path {
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					next = n.Content[i+1]
				}
			}
			require.NotNil(t, next, "%s: spec.%s", o.Kind, strings.Join(path, "."))
			n = next
		}
		var p podSpec
		require.NoError(t, n.Decode(&p))
		return p
	}
	checkPod := func(what string, p podSpec) container {
		assert.True(t, p.SecurityContext.RunAsNonRoot, what)
		assert.NotZero(t, p.SecurityContext.RunAsUser, what)
		require.Len(t, p.Containers, 1, what)
		c := p.Containers[0]
		require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation, what)
		assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation, what)
		assert.True(t, c.SecurityContext.ReadOnlyRootFilesystem, what)
		assert.Equal(t, []string{"ALL"}, c.SecurityContext.Capabilities.Drop, what)
		require.NotEmpty(t, c.EnvFrom, what)
		assert.Equal(t, "backupd-credentials", c.EnvFrom[0].SecretRef.Name, what)
		assert.True(t, slices.ContainsFunc(p.Volumes, func(v volume) bool {
			return v.ConfigMap != nil && v.ConfigMap.Name == "backupd-config"
		}), "%s mounts the ConfigMap", what)
		return c
	}

	// The Deployment serves on the port of server.listen, with probes.
	dep := checkPod("deployment", pod(objects["Deployment/backupd"], "template", "spec"))
	require.NotEmpty(t, dep.Args)
	assert.Equal(t, "serve", dep.Args[0])
	assert.Contains(t, dep.Args, "/etc/backupd/backupd.yaml")
	listen := cfg.ServerSettings().Listen
	require.Len(t, dep.Ports, 1)
	assert.True(t, strings.HasSuffix(listen, ":"+strconv.Itoa(dep.Ports[0].ContainerPort)), "server.listen %s, containerPort %d", listen, dep.Ports[0].ContainerPort)
	require.NotNil(t, dep.LivenessProbe)
	assert.Equal(t, "/healthz", dep.LivenessProbe.HTTPGet.Path)
	require.NotNil(t, dep.ReadinessProbe)
	assert.Equal(t, "/readyz", dep.ReadinessProbe.HTTPGet.Path)

	// The CronJob backs up a configured job that has no schedule of its own
	// (serve would run it too otherwise).
	cron := checkPod("cronjob", pod(objects["CronJob/backupd-reports"], "jobTemplate", "spec", "template", "spec"))
	require.NotEmpty(t, cron.Args)
	assert.Equal(t, "backup", cron.Args[0])
	jobName := cron.Args[len(cron.Args)-1]
	j, err := cfg.Job(jobName)
	require.NoError(t, err)
	assert.Empty(t, j.Schedule, "job %s is run by the CronJob: it must not also have a schedule", jobName)
	for _, name := range []string{"/etc/backupd/backupd.yaml"} {
		assert.Contains(t, cron.Args, name)
	}
}

package scaffold

import (
	"bytes"
	"embed"
	"fmt"
	"go/format"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/placeos-go/engine/version"
)

//go:embed templates
var templateFS embed.FS

var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*"))

// Driver is a driver to write.
type Driver struct {
	Name      string    // folder and package name: projector (CheckName)
	Transport Transport // how it reaches its device
	// Import is the import path of the driver's folder (github.com/me/drivers/drivers/projector).
	Import string
	// Path is the folder relative to its module's root, with slashes (drivers/projector): the
	// driver's path in a model, and what `go test ./…` names.
	Path string
}

// Repo is a new driver repository around its first driver.
type Repo struct {
	Module    string // module path
	GoVersion string // the go directive: the engine's own, so the toolchain that builds it fits
	EngineTag string // the engine release required
	// EngineSource is the engine source the replace points at; "" writes no replace.
	EngineSource string
	// Requires are the engine's own requirements ("path version"), written as indirect ones
	// for go mod tidy to prune. Without them tidy looks up the latest version of modules that
	// only tests of the engine's dependencies import (testify's YAML), on the network; with them
	// it finds the versions the engine was tidied with, in the module cache.
	Requires []string
}

// driverFiles are the files of a driver: output path (NAME for the driver's name) → template.
func driverFiles(t Transport) map[string]string {
	files := map[string]string{"main.go": "main.go.tmpl", "README.md": "README.md.tmpl", "dev.yaml": "dev.yaml.tmpl"}
	switch t {
	case Logic:
		files["NAME.go"], files["NAME_test.go"] = "logic.go.tmpl", "logic_test.go.tmpl"
		return files // no device, no simulator
	case HTTP:
		files["NAME.go"], files["NAME_test.go"] = "http.go.tmpl", "http_test.go.tmpl"
	default:
		files["NAME.go"], files["NAME_test.go"] = "line.go.tmpl", "line_test.go.tmpl"
	}
	files["sim/main.go"] = "sim_main.go.tmpl"
	files["sim/NAMEsim/doc.go"] = "sim_doc.go.tmpl"
	files["sim/NAMEsim/sim.go"] = "sim_" + string(t) + ".go.tmpl"
	return files
}

// repoFiles are the files of a new repository's root.
var repoFiles = map[string]string{"go.mod": "go.mod.tmpl", ".gitignore": "gitignore.tmpl", "README.md": "repo_README.md.tmpl"}

// transportData is what the templates need to know of a transport.
type transportData struct {
	Title string // as in prose: TCP
	Conn  string // the sdk transport type: sdk.TCP
	EOL   string // the line end, as Go source: `\r\n`, or "" for one message per command
	Mock  bool   // sdktest has a mock device for it (TCPDevice, UDPDevice)
	Where string // what in a module's configuration addresses the device
	Role  string // the driver's role in a model
	// SimAddr is where the simulator listens by default (engine dev --watch gives it the
	// module's address with --addr); Address the module fields that reach it there, and
	// Settings the module's settings, both as YAML: dev.yaml has them, and the README's model.
	SimAddr  string
	Address  []string
	Settings string
}

// ModelModule is the module's fields on one line of a model file.
func (t transportData) ModelModule() string {
	return strings.Join(append(slices.Clone(t.Address), "settings: "+t.Settings), ", ")
}

var transportInfo = map[Transport]transportData{
	TCP: {Title: "TCP", Conn: "TCP", EOL: `\r\n`, Mock: true, Where: "ip and port", Role: "device",
		SimAddr: "127.0.0.1:10001", Address: []string{"ip: 127.0.0.1", "port: 10001"}, Settings: "{poll_seconds: 10}"},
	UDP: {Title: "UDP", Conn: "UDP", EOL: `\r\n`, Mock: true, Where: "ip and port", Role: "device",
		SimAddr: "127.0.0.1:10002", Address: []string{"ip: 127.0.0.1", "port: 10002", "udp: true"}, Settings: "{poll_seconds: 10}"},
	SSH: {Title: "SSH", Conn: "SSH", EOL: `\r\n`, Where: "ip and port", Role: "device",
		SimAddr: "127.0.0.1:10022", Address: []string{"ip: 127.0.0.1", "port: 10022"}, Settings: "{username: admin, password: secret, poll_seconds: 10}"},
	WebSocket: {Title: "WebSocket", Conn: "WebSocket", Where: "uri", Role: "websocket",
		SimAddr: "127.0.0.1:10081", Address: []string{`uri: "ws://127.0.0.1:10081/"`}, Settings: "{poll_seconds: 10}"},
	HTTP: {Title: "HTTP", Where: "uri", Role: "service",
		SimAddr: "127.0.0.1:10080", Address: []string{`uri: "http://127.0.0.1:10080"`}, Settings: "{poll_seconds: 10}"},
	// A logic module's system is the room it runs in: engine dev's demo room, or the README's.
	Logic: {Title: "logic", Role: "logic", Settings: `{shutdown_at: "0 19 * * *"}`},
}

// data is what every template is executed with.
type data struct {
	transportData
	Driver
	Repo
	Type   string // the driver's Go type and module name: Projector
	Engine string // the engine command: bin/engine in the engine's checkout
}

func newData(d Driver, r Repo) data {
	td := transportInfo[d.Transport]
	if r.EngineSource != "" {
		r.EngineSource = modQuote(r.EngineSource)
	}
	engine := "engine"
	if strings.HasPrefix(d.Import, version.Module+"/") {
		engine = "bin/engine" // make build
	}
	return data{transportData: td, Driver: d, Repo: r, Type: typeName(d.Name), Engine: engine}
}

// Files renders the driver's files, by slash path relative to its folder.
func (d Driver) Files() (map[string][]byte, error) {
	if err := CheckName(d.Name); err != nil {
		return nil, err
	}
	if _, ok := transportInfo[d.Transport]; !ok {
		return nil, fmt.Errorf("scaffold: unknown transport %q", d.Transport)
	}
	files, err := render(newData(d, Repo{}), driverFiles(d.Transport))
	if err != nil {
		return nil, err
	}
	named := make(map[string][]byte, len(files))
	for p, b := range files {
		named[strings.ReplaceAll(p, "NAME", d.Name)] = b
	}
	return named, nil
}

// Files renders the repository's own files (go.mod, .gitignore, README.md), by slash path
// relative to its root; d is its first driver.
func (r Repo) Files(d Driver) (map[string][]byte, error) {
	return render(newData(d, r), repoFiles)
}

func render(dt data, list map[string]string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(list))
	for p, name := range list {
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, name, dt); err != nil {
			return nil, fmt.Errorf("scaffold: %s: %w", name, err)
		}
		content := b.Bytes()
		if path.Ext(p) == ".go" {
			formatted, err := format.Source(content)
			if err != nil {
				return nil, fmt.Errorf("scaffold: %s does not parse as Go: %w\n%s", p, err, content)
			}
			content = formatted
		}
		out[p] = content
	}
	return out, nil
}

// modQuote quotes a path for go.mod when it needs it (spaces, quotes, comment markers).
func modQuote(s string) string {
	if strings.ContainsAny(s, " \t\r\n\"'`") || strings.Contains(s, "//") || strings.Contains(s, "/*") {
		return strconv.Quote(s)
	}
	return s
}

package sdk

import (
	"io"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/plugin/metadata"
	"github.com/placeos-go/engine/version"
)

// SDKVersion is reported under versions.sdk in every driver's metadata: the engine release
// this SDK belongs to (package version).
const SDKVersion = version.Number

// Option configures Serve (and sdktest.New, which runs the driver as Serve would).
type Option func(*options)

type options struct {
	version     string
	requires    metadata.Ordered[[]string]
	settings    reflect.Type
	interfaces  []namedInterface
	logLevel    hclog.Level
	hookTimeout time.Duration
	name        string
	logOut      io.Writer
	clock       Clock
}

func buildOptions(opts []Option) *options {
	o := &options{
		logLevel:    hclog.Info,
		hookTimeout: 6 * time.Second,
		interfaces:  append([]namedInterface(nil), standardInterfaces...),
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.version == "" {
		o.version = buildVersion()
	}
	if o.clock == nil {
		o.clock = WallClock{}
	}
	return o
}

// Version sets versions.driver in the metadata. Without it the SDK uses the main module's
// version or VCS revision from the binary's build info, else "dev".
func Version(v string) Option { return func(o *options) { o.version = v } }

// Requires declares that the driver (usually a logic driver) needs a module named module in its
// system implementing the named interfaces; reported under "requirements".
func Requires(module string, interfaces ...string) Option {
	return func(o *options) {
		prev, _ := o.requires.Get(module)
		o.requires.Set(module, append(prev, interfaces...))
	}
}

// SettingsType declares the driver's settings type; its JSON Schema is reported as
// "json_schema" so front-ends can edit settings with a form.
func SettingsType[T any]() Option {
	return func(o *options) { o.settings = reflect.TypeFor[T]() }
}

// DeclareInterface adds a driver-defined interface I (an interface type) under name to the
// ones checked for "implements".
func DeclareInterface[I any](name string) Option {
	return func(o *options) {
		o.interfaces = append(o.interfaces, namedInterface{name, reflect.TypeFor[I]()})
	}
}

// LogLevel sets the level of lines written to the host log (stderr); debug forwarding to
// listeners always sees debug and above. The ENGINE_DRIVER_LOG_LEVEL environment variable
// overrides it in Serve.
func LogLevel(l hclog.Level) Option { return func(o *options) { o.logLevel = l } }

// HookTimeout bounds how long Start and Update wait for OnLoad/OnUpdate (default 6 s, as in
// PlaceOS). A hook that takes longer keeps running; the call returns and a warning is logged.
func HookTimeout(d time.Duration) Option { return func(o *options) { o.hookTimeout = d } }

// Name is the driver's name in log lines (default: the driver type's name).
func Name(name string) Option { return func(o *options) { o.name = name } }

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "dev"
}

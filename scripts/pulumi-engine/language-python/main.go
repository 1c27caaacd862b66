// Command pulumi-language-python is the Pulumi language host for Python programs, policy packs and plugins.
//
// Upstream's host (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python) is not served by the
// module proxy this project can reach, so this is a small reimplementation on top of the Pulumi Go SDK: it
// serves the LanguageRuntime gRPC service and runs Python through the SDK's python/toolchain, which resolves
// the `toolchain` and `virtualenv` runtime options of Pulumi.yaml / PulumiPolicy.yaml / PulumiPlugin.yaml.
// Programs run through the `pulumi-language-python-exec` shim, which must sit next to this binary.
//
// It never installs dependencies: the project creates its virtualenv itself (see InstallDependencies).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is what GetPluginInfo reports. Empty means "the version of the Pulumi SDK module this binary was
// built from" (v3.274.1); override with -ldflags "-X main.version=v3.274.1".
var version string

const execShimName = "pulumi-language-python-exec"

func main() {
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	showVersion := flag.Bool("version", false, "Print the plugin version and exit")
	givenExec := flag.String("use-executor", "", "Run programs with this exec shim instead of the one next to this binary")
	// -v and --logtostderr, which the CLI passes along with --logflow, are registered by the logging package.
	flag.Parse()

	if *showVersion {
		fmt.Println(pluginVersion())
		return
	}
	logging.InitLogging(false, 0, false)
	if endpoint := os.Getenv("PULUMI_OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint != "" {
		if err := cmdutil.InitOtelTracing("pulumi-language-python", endpoint); err != nil {
			logging.V(3).Infof("failed to initialize OTel tracing: %v", err)
		}
		defer cmdutil.CloseOtelTracing()
	} else {
		cmdutil.InitTracing("pulumi-language-python", "pulumi-language-python", *tracing)
	}

	shim, err := findExecShim(*givenExec)
	if err != nil {
		cmdutil.Exit(err)
	}

	// Stop serving on SIGINT, or when the engine stops answering health checks.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()

	host := newHost(shim, *tracing, ctx, stop)
	// Older engines pass their address as the only positional argument instead of calling Handshake.
	if args := flag.Args(); len(args) > 0 {
		if err := host.setEngine(args[0]); err != nil {
			cmdutil.Exit(err)
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	// The CLI reads the port from the first line of our stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

// findExecShim locates the Python shim that sets up the Pulumi runtime before running a program. It is
// installed next to this binary (os.Executable resolves symlinks, so next to the real file).
func findExecShim(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("could not determine current executable: %w", err)
	}
	shim := filepath.Join(filepath.Dir(self), execShimName)
	if _, err := os.Stat(shim); err != nil {
		return "", fmt.Errorf("missing executor %s (it must be installed next to %s): %w", shim, self, err)
	}
	logging.V(3).Infof("language host identified executor: %s", shim)
	return shim, nil
}

func pluginVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/pulumi/pulumi/sdk/v3" {
				return dep.Version
			}
		}
	}
	return ""
}

// host implements pulumirpc.LanguageRuntimeServer; RPCs it does not serve answer Unimplemented, which the
// CLI treats as "not supported by this language".
type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	shim    string
	tracing string

	// life ends when the process is told to stop; stop ends it (used by the engine health check).
	life context.Context
	stop context.CancelFunc

	mu            sync.Mutex
	engineAddress string
	rootDir       string // from Handshake; used when a request carries no ProgramInfo
	programDir    string
	cancelCtx     context.Context // cancelled by the Cancel RPC, which ends the processes running now
	cancelFunc    context.CancelFunc
}

func newHost(shim, tracing string, life context.Context, stop context.CancelFunc) *host {
	h := &host{shim: shim, tracing: tracing, life: life, stop: stop}
	h.cancelCtx, h.cancelFunc = context.WithCancel(life)
	return h
}

// operation returns the context for a child process serving req: it ends with the request, on the Cancel RPC
// or when this host stops.
func (h *host) operation(req context.Context) (context.Context, context.CancelFunc) {
	h.mu.Lock()
	ctx, cancel := context.WithCancel(h.cancelCtx)
	h.mu.Unlock()
	stop := context.AfterFunc(req, cancel)
	return ctx, func() { stop(); cancel() }
}

// setEngine records the engine address and watches it, so that this host exits if the engine dies.
func (h *host) setEngine(addr string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.engineAddress == addr {
		return nil
	}
	h.engineAddress = addr
	if err := rpcutil.Healthcheck(h.life, addr, 5*time.Minute, h.stop); err != nil {
		return fmt.Errorf("could not start health check of the engine at %s: %w", addr, err)
	}
	return nil
}

func (h *host) engine() (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.engineAddress == "" {
		return "", errors.New("no engine address: the engine must call Handshake (or pass its address) first")
	}
	return h.engineAddress, nil
}

func (h *host) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if err := h.setEngine(req.EngineAddress); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.rootDir, h.programDir = req.GetRootDirectory(), req.GetProgramDirectory()
	h.mu.Unlock()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: pluginVersion()}, nil
}

// Cancel ends the programs and plugins this host is running (the engine calls it on Ctrl-C and when it is
// done with the host). Later requests still work: an engine attached with PULUMI_DEBUG_LANGUAGES reuses us.
func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cancelFunc()
	h.cancelCtx, h.cancelFunc = context.WithCancel(h.life)
	return &emptypb.Empty{}, nil
}

// options turns a request's ProgramInfo into toolchain options, like upstream: `virtualenv` is relative to
// the root directory; plugins (not policy packs, nor programs) default to a `venv` virtualenv with pip.
func (h *host) options(info *pulumirpc.ProgramInfo, isPlugin bool) (toolchain.PythonOptions, error) {
	var raw map[string]any
	opts := toolchain.PythonOptions{}
	if info != nil {
		opts.Root, opts.ProgramDir, raw = info.RootDirectory, info.ProgramDirectory, info.Options.AsMap()
	} else {
		h.mu.Lock()
		opts.Root, opts.ProgramDir = h.rootDir, h.programDir
		h.mu.Unlock()
	}
	str := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("the %s runtime option must be a string", key)
		}
		return s, nil
	}

	var err error
	if opts.Virtualenv, err = str("virtualenv"); err != nil {
		return opts, err
	}
	tc, err := str("toolchain")
	if err != nil {
		return opts, err
	}
	switch tc {
	case "":
		opts.Toolchain = toolchain.Auto
	case "pip":
		opts.Toolchain = toolchain.Pip
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	case "uv":
		opts.Toolchain = toolchain.Uv
	default:
		return opts, fmt.Errorf("unsupported toolchain option: %s", tc)
	}
	checker, err := str("typechecker")
	if err != nil {
		return opts, err
	}
	switch checker {
	case "":
		opts.Typechecker = toolchain.TypeCheckerNone
	case "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return opts, fmt.Errorf("unsupported typechecker option: %s", checker)
	}
	if isPlugin && opts.Virtualenv == "" && (opts.Toolchain == toolchain.Auto || opts.Toolchain == toolchain.Pip) {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

// resolve returns the options and the toolchain for a request.
func (h *host) resolve(
	info *pulumirpc.ProgramInfo, isPlugin bool,
) (toolchain.PythonOptions, toolchain.Toolchain, error) {
	opts, err := h.options(info, isPlugin)
	if err != nil {
		return opts, nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	return opts, tc, err
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/contract"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
)

// exitShownMessage is the shim's exit code for "the error was already reported to the user" (an unhandled
// exception, logged with the user's part of its traceback): the engine should just bail. A pulumi.RunError is
// logged without a traceback and exits 1, which is reported as a failed program, as upstream does.
const exitShownMessage = 32

// Run executes a Pulumi program: `python pulumi-language-python-exec <flags> <entry point> <args>` with the
// toolchain's python, its output going straight to ours, which the engine displays.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	engine, err := h.engine()
	if err != nil {
		return nil, err
	}
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this Python language host does not support attaching a debugger"}, nil
	}
	opts, tc, err := h.resolve(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{} // "null" would crash the SDK's set_all_config
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration secret keys: %w", err)
	}

	if err := typecheck(ctx, tc, opts); err != nil {
		return nil, err
	}

	// The program stops on the Cancel RPC, or when the engine abandons the request.
	runCtx, cancel := h.operation(ctx)
	defer cancel()

	args := append([]string{h.shim}, h.shimArgs(req, engine)...)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, err
	}
	interruptOnCancel(cmd)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = mergeEnv(cmd.Env,
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))
	logging.V(5).Infof("Language host launching process: %s", cmd.String())

	err = cmd.Run()
	// Python may die without flushing; make sure what it did write reaches the engine.
	contract.IgnoreError(os.Stdout.Sync())
	contract.IgnoreError(os.Stderr.Sync())
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitShownMessage:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() > 0:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited unexpectedly: %v", exitErr)}, nil
	default:
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
		}, nil
	}
}

// shimArgs are the flags pulumi-language-python-exec understands, then the entry point and its arguments.
func (h *host) shimArgs(req *pulumirpc.RunRequest, engine string) []string {
	var args []string
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "." // the program directory, i.e. its __main__.py
	}
	return append(append(args, entry), req.GetArgs()...)
}

// typecheck runs the `typechecker` runtime option (mypy or pyright) over the program before it runs.
func typecheck(ctx context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions) error {
	var name string
	switch opts.Typechecker {
	case toolchain.TypeCheckerMypy:
		name = "mypy"
	case toolchain.TypeCheckerPyright:
		name = "pyright"
	default:
		return nil
	}
	args := []string{"-m", name}
	if name == "mypy" {
		// Do not type check the virtualenv when it lives inside the program directory.
		if venv, err := tc.VirtualEnvPath(ctx); err == nil && venv != "" {
			if rel, err := filepath.Rel(opts.ProgramDir, venv); err == nil {
				args = append(args, "--exclude", rel)
			}
		}
	}
	cmd, err := tc.Command(ctx, append(args, opts.ProgramDir)...)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Dir = opts.ProgramDir
	cmd.Stdout, cmd.Stderr = io.MultiWriter(os.Stdout, &out), io.MultiWriter(os.Stderr, &out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed (is it installed in the virtualenv?): %w\n%s", name, err, out.String())
	}
	return nil
}

// RunPlugin runs a Python policy pack (kind "analyzer", from `--policy-pack DIR`) or a Python plugin directory
// (PulumiPlugin.yaml), streaming its stdout/stderr and finally its exit code back to the engine.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	ctx := server.Context()
	if _, err := h.engine(); err != nil {
		return err
	}
	if req.GetAttachDebugger() {
		return errors.New("this Python language host does not support attaching a debugger")
	}
	isPolicy := req.Kind == string(apitype.AnalyzerPlugin)
	opts, tc, err := h.resolve(req.GetInfo(), !isPolicy)
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return err
	}
	programDir := req.GetInfo().GetProgramDirectory()

	var args []string
	var module string
	switch {
	case isPolicy:
		// Policy packs run as `python -u -m pulumi.policy <engine> <pack dir>`, from the pack directory.
		args = append(append([]string{"-u", "-m", "pulumi.policy"}, req.Args...), programDir)
	case !fileExists(filepath.Join(opts.Root, "__main__.py")) && hasModule(ctx, tc, "pulumi.run.plugin"):
		// A plugin that is a buildable package (pyproject.toml) runs through its package's entry point.
		buildable, err := toolchain.IsBuildablePackage(opts.Root)
		if err != nil {
			return fmt.Errorf("checking if plugin is a buildable package: %w", err)
		}
		if !buildable {
			return errors.New("plugin is not runnable, it provides neither __main__.py nor a buildable pyproject.toml")
		}
		pyproject, err := toolchain.LoadPyproject(opts.Root)
		if err != nil {
			return fmt.Errorf("loading pyproject: %w", err)
		}
		module = "pulumi.run.plugin"
		args = append([]string{pyproject.Project.Name}, req.Args...)
	default:
		// A plugin directory runs its __main__.py: `python <dir> <args>`.
		args = append([]string{programDir}, req.Args...)
	}

	runCtx, cancel := h.operation(ctx)
	defer cancel()
	var cmd *exec.Cmd
	if module != "" {
		cmd, err = tc.ModuleCommand(runCtx, module, args...)
	} else {
		cmd, err = tc.Command(runCtx, args...)
	}
	if err != nil {
		return err
	}
	interruptOnCancel(cmd)
	// The engine sends the environment the plugin should see; activate the virtualenv on top of it (the
	// toolchain activated it on our own environment, which req.Env's PATH would otherwise override).
	if venv, err := tc.VirtualEnvPath(ctx); err == nil && venv != "" && toolchain.IsVirtualEnv(venv) {
		cmd.Env = toolchain.ActivateVirtualEnv(mergeEnv(os.Environ(), req.Env...), venv)
	} else {
		cmd.Env = mergeEnv(cmd.Env, req.Env...)
	}
	cmd.Dir = req.Pwd
	if isPolicy {
		cmd.Dir = programDir // historical behaviour: policy packs run in their own directory
	}

	stream := &lockedStream{ServerStreamingServer: server}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(stream, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	var proxy *sdk.PolicyProxy
	if isPolicy {
		// pulumi_policy reads the stack's project, stack, organization and config from the environment, but
		// the engine now sends them with ConfigureStack. The SDK's proxy answers the engine as the policy pack,
		// waits for that call, and then forwards everything to the real pack once it is started.
		if proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout); err != nil {
			return fmt.Errorf("could not start policy pack proxy: %w", err)
		}
		config, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("could not get stack configuration: %w", err)
		}
		if config != nil {
			var env []string
			for k, v := range map[string]string{
				"PULUMI_ORGANIZATION": config.Organization,
				"PULUMI_PROJECT":      config.Project,
				"PULUMI_STACK":        config.Stack,
				"PULUMI_DRY_RUN":      strconv.FormatBool(config.DryRun),
			} {
				if v != "" { // unset rather than empty, as upstream
					env = append(env, k+"="+v)
				}
			}
			if config.Config != nil {
				b, err := json.Marshal(config.Config)
				if err != nil {
					return fmt.Errorf("could not marshal stack configuration: %w", err)
				}
				env = append(env, "PULUMI_CONFIG="+string(b))
			}
			cmd.Env = mergeEnv(cmd.Env, env...)
		}
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	logging.V(5).Infof("RunPlugin: %s (in %s)", cmd.String(), cmd.Dir)

	if err := cmd.Start(); err != nil {
		if proxy != nil {
			proxy.Abort(err)
		}
		return fmt.Errorf("problem executing plugin program (could not run language executor): %w", err)
	}
	if proxy != nil {
		err = proxy.Attach(ctx, cmd) // waits for the process too
	} else {
		err = cmd.Wait()
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return stream.Send(&pulumirpc.RunPluginResponse{
			Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
		})
	} else if err != nil {
		return err
	}
	return closer.Close()
}

// lockedStream serializes Send: exec copies stdout and stderr from two goroutines, and a gRPC stream must not
// be sent on concurrently.
type lockedStream struct {
	grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
	mu sync.Mutex
}

func (s *lockedStream) Send(m *pulumirpc.RunPluginResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ServerStreamingServer.Send(m)
}

// interruptOnCancel makes a cancelled command get SIGINT first, so Python can clean up, and SIGKILL 5s later.
func interruptOnCancel(cmd *exec.Cmd) {
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
}

// mergeEnv returns base (os.Environ() if nil) with extra KEY=VALUE entries replacing same-named ones.
func mergeEnv(base []string, extra ...string) []string {
	if base == nil {
		base = os.Environ()
	}
	index := map[string]int{}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range append(append([]string{}, base...), extra...) {
		key, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if i, seen := index[key]; seen {
			out[i] = kv
			continue
		}
		index[key] = len(out)
		out = append(out, kv)
	}
	return out
}

// hasModule reports whether the toolchain's python can import module (old SDKs lack pulumi.run.plugin).
func hasModule(ctx context.Context, tc toolchain.Toolchain, module string) bool {
	cmd, err := tc.Command(ctx, "-c", "import "+module)
	if err != nil {
		return false
	}
	out, err := cmd.CombinedOutput()
	return err == nil || !strings.Contains(string(out), "ModuleNotFoundError")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

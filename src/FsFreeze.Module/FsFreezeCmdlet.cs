using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;

namespace FsFreeze.Commands
{
    /// <summary>
    /// What every FsFreeze cmdlet does the same way: turn PowerShell paths into filesystems, report errors,
    /// and cancel on Ctrl+C (StopProcessing), with the cancellation source disposed with the cmdlet.
    /// </summary>
    public abstract class FsFreezeCmdlet : PSCmdlet, IDisposable
    {
        private protected const string PathSet = "Path", LiteralPathSet = "LiteralPath", AllSet = "All";

        private readonly CancellationTokenSource _stop = new CancellationTokenSource();

        private protected CancellationToken Cancellation => _stop.Token;

        protected override void StopProcessing() => _stop.Cancel();

        public void Dispose()
        {
            _stop.Dispose();
            GC.SuppressFinalize(this);
        }

        /// <summary>
        /// A path as the caller gave it, made absolute. -Path goes through PowerShell's provider ('~', relative to the
        /// PowerShell location, PSDrives); -LiteralPath is taken as written (a '\' in a Linux name stays a '\'),
        /// only made absolute against the current location. Null (error written) when it is not a filesystem path.
        /// </summary>
        private protected string? ToAbsolute(string path, bool literal)
        {
            if (literal || IsPlainAbsolutePath(path))
            {
                if (path.StartsWith("/", StringComparison.Ordinal)) return path;
                var here = SessionState.Path.CurrentFileSystemLocation?.ProviderPath ?? Environment.CurrentDirectory;
                return here.TrimEnd('/') + "/" + path;
            }
            try
            {
                var absolute = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
                // Env:HOME resolves to the bare 'HOME', which would then be looked up relative to the process's cwd.
                if (provider.Name != "FileSystem") throw new NotSupportedException($"it belongs to the {provider.Name} provider");
                return absolute;
            }
            catch (Exception e) when (e is ProviderNotFoundException || e is DriveNotFoundException || e is NotSupportedException)
            {
                WriteFsError(new FsFreezeException(FreezeErrorKind.PathNotFound, path,
                    $"'{path}' is not a filesystem path ({e.Message}). Name a mount point or a file or directory inside it.", e));
                return null;
            }
        }

        /// <summary>
        /// An absolute path that PowerShell would hand back unchanged: only '\' and '.'/'..' segments get rewritten.
        /// Skipping the provider lookup for it saves about 0.1 ms per call (measured; an idle freeze+thaw pair is ~0.5 ms).
        /// </summary>
        internal static bool IsPlainAbsolutePath(string path)
        {
            if (path.Length == 0 || path[0] != '/' || path.IndexOf('\\') >= 0) return false;
            foreach (var segment in path.Split('/'))
            {
                if (segment == "." || segment == "..") return false;
            }
            return true;
        }

        /// <summary>Resolves paths to filesystems. Writes one error per bad path; returns null if any failed.</summary>
        private protected List<Filesystem>? ResolveAll(IEnumerable<string> paths, bool literal, MountTable table)
        {
            var resolved = new List<Filesystem>();
            bool failed = false;
            foreach (var path in paths)
            {
                var absolute = ToAbsolute(path, literal);
                if (absolute == null) { failed = true; continue; }
                try
                {
                    resolved.Add(FilesystemResolver.Resolve(absolute, table));
                }
                catch (FsFreezeException e)
                {
                    WriteFsError(e);
                    failed = true;
                }
            }
            return failed ? null : resolved;
        }

        private protected void WriteFsError(FsFreezeException e) => WriteError(ErrorMapping.ToRecord(e));

        /// <summary>
        /// Hook runs, only ever after the thaw (or when nothing was frozen): one verbose line each, with its output when
        /// asked; then each failed thaw hook as FsFreeze.HookFailed, once all of them have run.
        /// </summary>
        private protected void ReportHooks(IEnumerable<HookRun> runs, bool withOutput, string pathForErrors, bool errors = true)
        {
            var list = new List<HookRun>(runs);
            foreach (var r in list)
            {
                WriteVerbose($"Hook '{r.Name}' {r.Action}: {r.Describe()}.");
                if (!withOutput || r.Output.Length == 0) continue;
                foreach (var line in r.Output.TrimEnd('\n').Split('\n')) WriteVerbose($"  {r.Name} {r.Action}| {line}");
            }
            if (errors) foreach (var e in HookRunner.ThawFailures(list, pathForErrors)) WriteFsError(e);
        }

        private protected IEnumerable<(string, string)> SessionLocations()
        {
            var location = SessionState.Path.CurrentFileSystemLocation?.ProviderPath;
            if (!string.IsNullOrEmpty(location)) yield return (location!, "this shell's current location");
        }

        /// <summary>A bad -TimeoutSec stops the command before anything is resolved or frozen.</summary>
        private protected void ValidateTimeout(long seconds, string? path)
        {
            try { FreezeTimeout.Validate(seconds, path ?? ""); }
            catch (FsFreezeException e) { ThrowTerminatingError(ErrorMapping.ToRecord(e)); }
        }
    }

    /// <summary>The cmdlets that name filesystems to act on: -Path (through the provider) or -LiteralPath (as written, and from the pipeline).</summary>
    public abstract class FsFreezePathCmdlet : FsFreezeCmdlet
    {
        /// <summary>Mount points or any path inside the filesystems; '~' and relative paths go through PowerShell's provider.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = PathSet)]
        [ArgumentCompleter(typeof(MountPointCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; } = null!;

        /// <summary>Paths taken exactly as written (no wildcard, '~' or '\' rewriting); binds MountPoint and FullName from the pipeline.</summary>
        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = LiteralPathSet)]
        [Alias("MountPoint", "FullName", "LP")]
        [ValidateNotNullOrEmpty]
        public string[] LiteralPath { get; set; } = null!;

        private protected bool IsLiteral => ParameterSetName == LiteralPathSet;

        private protected string[] Given => IsLiteral ? LiteralPath : Path;
    }

    /// <summary>
    /// Invoke-FsFreeze and Use-FsFreeze: a set frozen all or nothing, with a timeout, a flush, the session guard and the
    /// hooks; named by paths, or with -All found by the core (every local filesystem that can be frozen).
    /// </summary>
    public abstract class FsFreezeSetCmdlet : FsFreezePathCmdlet
    {
        private readonly List<string> _paths = new List<string>();

        /// <summary>Every local filesystem that can be frozen, / included: the core's discovery, in the planner's order.</summary>
        [Parameter(Mandatory = true, ParameterSetName = AllSet)]
        public SwitchParameter All { get; set; }

        /// <summary>With -All: globs on mount points ('*' also matches '/'); a filesystem is left out when any of its mount points matches.</summary>
        [Parameter(ParameterSetName = AllSet)]
        [ValidateNotNull]
        public string[] Exclude { get; set; } = Array.Empty<string>();

        /// <summary>Seconds until FsFreeze thaws the set unless it is thawed or reset first. 0 = no timeout; 1 is refused (ambiguous).</summary>
        [Parameter]
        public int TimeoutSec { get; set; } = FreezeTimeout.DefaultSeconds;

        /// <summary>Skip the syncfs that runs before FIFREEZE while writers can still run.</summary>
        [Parameter]
        public SwitchParameter NoFlush { get; set; }

        /// <summary>Freeze even a filesystem this shell itself lives on (/, temp, home, the current location).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>The hook directory: its executables run with "freeze" before the freeze and "thaw" after it. '' = none.</summary>
        [Parameter]
        [AllowEmptyString, AllowNull]
        public string? HookDirectory { get; set; } = HookPlan.DefaultDirectory;

        /// <summary>Run no hooks (the same as -HookDirectory '').</summary>
        [Parameter]
        public SwitchParameter NoHooks { get; set; }

        /// <summary>Seconds each hook may run; a freeze hook that outlives it aborts the freeze.</summary>
        [Parameter]
        [ValidateRange(1, 3600)]
        public int HookTimeoutSec { get; set; } = HookPlan.DefaultTimeoutSec;

        private protected bool IsAll => ParameterSetName == AllSet;

        protected override void BeginProcessing() => ValidateTimeout(TimeoutSec, null);

        protected override void ProcessRecord()
        {
            if (!IsAll) _paths.AddRange(Given);
        }

        /// <summary>
        /// Resolves every path (or, with -All, asks the core for every local filesystem that can be frozen), plans the set
        /// (freeze order) and applies the session guard unless forced. Null when a path could not be resolved (its error
        /// is written); throws when the guard refuses.
        /// </summary>
        private protected IReadOnlyList<Filesystem>? PlanSet(MountTable table, bool scope)
        {
            if (IsAll) return PlanAll(table, scope);
            var resolved = ResolveAll(_paths, IsLiteral, table);
            if (resolved == null) return null;
            var members = FreezeEngine.Plan(resolved, table, Force, SessionLocations());
            // Written after planning and before anything is frozen (a test hooks this line to change the paths in between).
            WriteVerbose($"Resolved {_paths.Count} path(s) to {members.Count} filesystem(s), in freeze order: {string.Join("; ", members)}.");
            return members;
        }

        /// <summary>
        /// -All. The session guard does not refuse: freezing what this shell lives on is what -All asks for. The contract
        /// instead (about_FsFreeze, FREEZING THE ROOT FILESYSTEM): a timeout is required unless -Force, Invoke-FsFreeze
        /// refuses an interactive prompt unless -Force (the next command line would be written to the history on a frozen
        /// /), and a pwsh cache on a member is warned about (pwsh writes it when it exits).
        /// </summary>
        private IReadOnlyList<Filesystem> PlanAll(MountTable table, bool scope)
        {
            var found = FreezeEngine.Discover(Exclude);
            bool whatIf = IsWhatIf();
            foreach (var skip in found.Skipped)
            {
                WriteVerbose($"Skipping '{skip.MountPoint}' ({skip.FileSystemType} on {skip.Source}): {skip.Why}.");
                WriteInformation(new InformationRecord(skip, "FsFreeze") { Tags = { "FsFreeze.Skipped" } });
                if (whatIf) ShouldProcess($"{skip.MountPoint} ({skip.FileSystemType} on {skip.Source})", $"Skip ({skip.Why})");
            }
            var members = found.Members;
            if (members.Count == 0)
            {
                throw new FsFreezeException(FreezeErrorKind.PathNotFound, "-All",
                    $"-All found no local filesystem that can be frozen{(Exclude.Length > 0 ? " that -Exclude leaves" : "")}: every mount was skipped (-Verbose says why).");
            }
            WriteVerbose($"-All: {members.Count} filesystem(s), in freeze order: {string.Join("; ", members)}.");
            var session = SessionGuard.Find(members, table, SessionLocations());
            foreach (var (fs, why) in session) WriteVerbose($"-All freezes '{fs.MountPoint}', which holds {why}: nothing of this process may write there until the thaw.");
            if (session.Count > 0 && !Force)
            {
                var (first, firstWhy) = session[0];
                if (TimeoutSec == 0)
                {
                    throw new FsFreezeException(FreezeErrorKind.SessionFilesystem, first.MountPoint,
                        $"-All freezes '{first.MountPoint}', which holds {firstWhy}, and -TimeoutSec 0 leaves nothing to thaw it if this process blocks on it. " +
                        "Give -All a timeout (the default is 60 s), or add -Force if you are sure. Nothing was frozen.");
                }
                if (!scope && IsInteractivePrompt())
                {
                    throw new FsFreezeException(FreezeErrorKind.SessionFilesystem, first.MountPoint,
                        $"Invoke-FsFreeze -All would freeze '{first.MountPoint}' ({firstWhy}) and return to this interactive prompt, which saves your next command line to its history file there: " +
                        "the shell would hang until the timeout thaws it, and the thaw you type could never run. Use 'Use-FsFreeze -All { <snapshot> }' (it thaws before the prompt comes back), " +
                        "or run Invoke-FsFreeze -All from a non-interactive pwsh (automation; see about_FsFreeze), or add -Force. Nothing was frozen.");
                }
            }
            if (!scope && PwshCacheOn(members, table) is string cache)
            {
                WriteWarning($"pwsh writes its startup cache under '{cache}' when it exits, and -All freezes that filesystem: this pwsh's exit will wait for the thaw. " +
                    "Set XDG_CACHE_HOME to a directory on /run (a tmpfs) before starting pwsh (about_FsFreeze, FREEZING THE ROOT FILESYSTEM).");
            }
            return members;
        }

        private bool IsWhatIf()
        {
            if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) && w is SwitchParameter s) return s.IsPresent;
            return SessionState.PSVariable.GetValue("WhatIfPreference") is bool b ? b : SessionState.PSVariable.GetValue("WhatIfPreference") is SwitchParameter sp && sp.IsPresent;
        }

        /// <summary>A console pwsh at a PSReadLine prompt (an interactive shell): it writes each command line to its history file before running it.</summary>
        private bool IsInteractivePrompt()
        {
            if (Host?.Name != "ConsoleHost") return false;
            foreach (var a in AppDomain.CurrentDomain.GetAssemblies())
            {
                if (a.GetName().Name?.StartsWith("Microsoft.PowerShell.PSReadLine", StringComparison.Ordinal) == true) return true;
            }
            return false;
        }

        /// <summary>Where pwsh keeps its startup cache (XDG_CACHE_HOME, else ~/.cache) when a member holds it.</summary>
        private static string? PwshCacheOn(IReadOnlyList<Filesystem> members, MountTable table)
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var home = Environment.GetEnvironmentVariable("HOME");
            var dir = !string.IsNullOrEmpty(xdg) ? xdg : !string.IsNullOrEmpty(home) ? System.IO.Path.Combine(home, ".cache") : null;
            if (dir == null) return null;
            // The cache directory may not exist yet: its nearest existing ancestor is where it will be made.
            var probe = dir;
            while (!System.IO.Directory.Exists(probe) && System.IO.Path.GetDirectoryName(probe) is string parent && parent != probe) probe = parent;
            var mount = MountIdentity.Of(probe, table);
            if (mount == null) return null;
            foreach (var m in members) if (m.Device == mount.Device) return dir;
            return null;
        }

        private protected IReadOnlyList<string> Requested => IsAll ? new[] { "-All" } : _paths;

        /// <summary>The hooks of this freeze (none with -NoHooks or -HookDirectory ''); a directory named and missing is an error.</summary>
        private protected HookPlan ReadHooks(string pathForErrors)
        {
            var dir = NoHooks ? "" : HookDirectory;
            var plan = global::FsFreeze.HookDirectory.Read(dir, MyInvocation.BoundParameters.ContainsKey(nameof(HookDirectory)), HookTimeoutSec, pathForErrors);
            if (plan.Directory.Length == 0) WriteVerbose("Hooks: none (-NoHooks).");
            else
            {
                WriteVerbose(plan.IsEmpty ? $"Hooks: none in '{plan.Directory}'." : $"Hooks in '{plan.Directory}', in this order: {string.Join(", ", plan.Hooks.Select(h => h.Name))} (each may take {plan.TimeoutSec} s).");
                foreach (var (name, why) in plan.Skipped) WriteVerbose($"Hook directory entry '{name}' is not run: {why}.");
            }
            return plan;
        }

        private protected FreezeOptions Options(bool scope, Action<string> warn, HookPlan hooks, WatchdogClient.WatchdogLaunch? launch) => new FreezeOptions
        {
            TimeoutSec = TimeoutSec, Flush = !NoFlush, Scope = scope, Cancel = Cancellation, Warn = warn, Hooks = hooks, Launch = launch,
        };

        /// <summary>
        /// With a timeout, the watchdog is started before the set is planned, so its start overlaps the planning (it waits
        /// for its request; unused, disposing it lets it end). Not for -WhatIf, nor without root (the freeze fails anyway).
        /// </summary>
        private protected WatchdogClient.WatchdogLaunch? PrestartWatchdog()
        {
            if (TimeoutSec == 0 || !FsFreeze.Native.Posix.HasSysAdmin() || IsWhatIf()) return null;
            return WatchdogClient.Prestart();
        }

        /// <summary>Narrates a frozen set (never between FIFREEZEs: every member already frozen holds its writers meanwhile).</summary>
        private protected void ReportFrozen(FreezeHandle handle)
        {
            int done = 0, total = handle.Members.Count;
            foreach (var m in handle.Members)
            {
                WriteVerbose($"Froze '{m.MountPoint}' in {m.FreezeTime.TotalMilliseconds:N2} ms{(handle.TimeoutSec == 0 ? " (no timeout)" : "")}.");
                if (total < 4) continue; // small sets stay quiet
                done++;
                WriteProgress(new ProgressRecord(1, "Freezing filesystems", $"{done} of {total} frozen: {m.MountPoint}")
                {
                    PercentComplete = Math.Min(100, done * 100 / total),
                    RecordType = done >= total ? ProgressRecordType.Completed : ProgressRecordType.Processing,
                });
            }
            if (handle.WatchdogPid > 0)
            {
                WriteVerbose($"Watchdog pid {handle.WatchdogPid} holds freeze {handle.Id}; it thaws at {handle.DeadlineUtc?.ToLocalTime():HH:mm:ss} unless thawed or reset first.");
            }
        }
    }
}

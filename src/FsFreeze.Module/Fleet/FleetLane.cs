using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Threading;

namespace FsFreeze.Commands
{
    /// <summary>What one remote call brought back: output, errors, or why it failed (a broken session, a terminating error).</summary>
    internal sealed class RemoteCallResult
    {
        public DateTime SentUtc { get; init; }
        public DateTime AnsweredUtc { get; set; }
        public List<PSObject> Output { get; set; } = new List<PSObject>();
        public List<ErrorRecord> Errors { get; set; } = new List<ErrorRecord>();

        /// <summary>The call itself failed: the session broke (transport), or the remote script threw.</summary>
        public Exception? Failure { get; set; }

        public bool Succeeded => Failure == null && Errors.Count == 0;

        /// <summary>The session, not the host, failed: nothing is known about the host's freeze from this call.</summary>
        public bool TransportFailed => Failure != null && Failure is not RemoteException
            && (Failure as IContainsErrorRecord)?.ErrorRecord?.FullyQualifiedErrorId?.StartsWith("FsFreeze.", StringComparison.Ordinal) != true;

        /// <summary>The first error's id without the command part ("FsFreeze.NotFrozen"), or the failure's type.</summary>
        public string ErrorId
        {
            get
            {
                var record = Errors.FirstOrDefault() ?? (Failure as IContainsErrorRecord)?.ErrorRecord;
                if (record?.FullyQualifiedErrorId is string id && id.Length > 0) return id.Split(',')[0];
                return Failure?.GetType().Name ?? "";
            }
        }

        public string Message
        {
            get
            {
                var messages = Errors.Select(e => e.Exception?.Message ?? e.ToString()).ToList();
                if (Failure != null) messages.Add(Failure.Message);
                return string.Join(" ", messages.Where(m => !string.IsNullOrWhiteSpace(m)).Select(m => m.Trim()));
            }
        }

        public bool HasErrorId(string id) => Errors.Any(e => e.FullyQualifiedErrorId?.Split(',')[0] == id)
            || ((Failure as IContainsErrorRecord)?.ErrorRecord?.FullyQualifiedErrorId?.Split(',')[0] == id);
    }

    /// <summary>
    /// One host of a fleet freeze, reached through its PSSession: the same thing Invoke-Command -Session does, through the
    /// session's runspace, but started without blocking (so every host is asked at once) and answered on the runspace's
    /// own thread. One call at a time per host: a remote runspace runs one pipeline at a time, and a call that never
    /// answers (a cut link) keeps the lane busy instead of piling more calls behind it.
    /// </summary>
    internal sealed class FleetLane
    {
        private readonly object _gate = new object();
        private readonly ManualResetEventSlim _idle = new ManualResetEventSlim(true);
        private PowerShell? _running;

        public FleetLane(PSSession session, int leaseSec)
        {
            Session = session;
            Result = new FleetHostFreeze { ComputerName = session.ComputerName ?? "", SessionName = session.Name ?? "", LeaseSec = leaseSec };
        }

        public PSSession Session { get; }
        public FleetHostFreeze Result { get; }

        /// <summary>The host's FrozenFilesystem objects (deserialized), handed back to its Invoke-FsThaw.</summary>
        public PSObject[] Frozen { get; set; } = Array.Empty<PSObject>();

        public string Name => Result.ComputerName;

        public bool Busy
        {
            get { lock (_gate) return _running != null; }
        }

        /// <summary>Why the session cannot run anything, or null when it is open.</summary>
        public string? Unusable()
        {
            var state = Session.Runspace?.RunspaceStateInfo?.State;
            return state == RunspaceState.Opened ? null : $"its session {Session.Name} (id {Session.Id}) is {state?.ToString() ?? "without a runspace"}, not Opened";
        }

        /// <summary>
        /// Starts a script on the host and returns at once; <paramref name="onAnswer"/> runs when it answers (also when the
        /// session fails). False when the previous call has not answered yet: nothing was started.
        /// </summary>
        public bool TryStart(string script, IDictionary parameters, Action<RemoteCallResult> onAnswer)
        {
            PowerShell ps;
            var output = new PSDataCollection<PSObject>();
            lock (_gate)
            {
                if (_running != null) return false;
                ps = PowerShell.Create();
                ps.Runspace = Session.Runspace;
                ps.AddScript(script).AddParameters(parameters);
                _running = ps;
                _idle.Reset();
            }
            var sent = DateTime.UtcNow;
            try
            {
                ps.BeginInvoke<PSObject, PSObject>(null, output, null, ar => Finish(ps, ar, output, sent, onAnswer), null);
            }
            catch (Exception e)
            {
                // A closed or broken session refuses at once: answer as a call that failed.
                Finish(ps, null, output, sent, onAnswer, e);
            }
            return true;
        }

        /// <summary>Waits until the host's current call (if any) has answered and been handled.</summary>
        public bool WaitIdle(TimeSpan timeout) => _idle.Wait(timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout);

        /// <summary>Asks a call that does not answer to stop (it may never: a cut link); the lane stays busy until it ends.</summary>
        public void Abandon()
        {
            PowerShell? ps;
            lock (_gate) ps = _running;
            try { ps?.BeginStop(null, null); }
            catch (Exception) { /* a broken session: nothing to stop */ }
        }

        private void Finish(PowerShell ps, IAsyncResult? ar, PSDataCollection<PSObject> output, DateTime sent, Action<RemoteCallResult> onAnswer, Exception? failure = null)
        {
            var r = new RemoteCallResult { SentUtc = sent, Failure = failure };
            try
            {
                if (ar != null) ps.EndInvoke(ar);
            }
            catch (Exception e)
            {
                r.Failure = e;
            }
            r.AnsweredUtc = DateTime.UtcNow;
            try
            {
                r.Output = output.ReadAll().ToList();
                r.Errors = ps.Streams.Error.ReadAll().ToList();
            }
            catch (Exception) { /* nothing more to read */ }
            try
            {
                onAnswer(r);
            }
            finally
            {
                lock (_gate)
                {
                    _running = null;
                    _idle.Set();
                }
                // Not disposed here, on the runspace's own callback thread.
                ThreadPool.QueueUserWorkItem(_ => { try { ps.Dispose(); } catch (Exception) { } });
            }
        }

        /// <summary>A property of a (deserialized) object, unwrapped.</summary>
        internal static object? Prop(PSObject o, string name)
        {
            var v = o.Properties[name]?.Value;
            return v is PSObject p ? p.BaseObject : v;
        }

        internal static DateTime? DateProp(PSObject o, string name) => Prop(o, name) is DateTime d ? d : null;
    }
}

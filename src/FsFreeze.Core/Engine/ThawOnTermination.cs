using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace FsFreeze
{
    /// <summary>
    /// While a Use-FsFreeze scope runs: SIGTERM (systemd, Ansible's timeouts, kill) and SIGHUP (a closed terminal or
    /// SSH session) thaw its set at once, on the runtime's signal thread, even while the scope itself sleeps on a
    /// write to its own frozen filesystem. The signal then takes its usual course (the process ends).
    /// SIGINT is pwsh's Ctrl+C: it stops the pipeline, and the scope's own way out thaws. kill -9 cannot be caught:
    /// the watchdog, which watches a scope's process, covers that.
    /// </summary>
    internal sealed class ThawOnTermination : IDisposable
    {
        private readonly List<PosixSignalRegistration> _registrations = new List<PosixSignalRegistration>();
        private volatile FreezeHandle? _handle;

        /// <summary>Registered before the freeze (nothing of it runs in the frozen window); it thaws once <see cref="Arm"/> named the handle.
        /// Until then a signal takes its usual course, as without a registration.</summary>
        public ThawOnTermination()
        {
            foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP })
            {
                _registrations.Add(PosixSignalRegistration.Create(signal, _ => _handle?.ThawAll(warn: null)));
            }
        }

        public ThawOnTermination(FreezeHandle handle) : this() => Arm(handle);

        public void Arm(FreezeHandle handle) => _handle = handle;

        public void Dispose()
        {
            foreach (var r in _registrations) r.Dispose();
        }
    }
}

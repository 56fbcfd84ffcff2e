using System;

namespace FsFreeze
{
    /// <summary>What a timeout argument means. Pure logic, shared by the seed facade and the cmdlets.</summary>
    public static class FreezeTimeout
    {
        /// <summary>FsFreeze's default: like Azure's safefreeze, never frozen for more than a minute unless asked.</summary>
        public const int DefaultSeconds = 60;

        /// <summary>
        /// The cmdlets' rule: 0 = no timeout, 2 or more = seconds. 1 is refused: the seed kept 1 as
        /// "no timeout" for XFS programs, while a person typing 1 almost surely means one second.
        /// </summary>
        public static void Validate(long seconds, string path)
        {
            if (seconds == 1)
            {
                throw new FsFreezeException(FreezeErrorKind.InvalidTimeout, path,
                    "-TimeoutSec 1 is ambiguous: the original kernel freeze-timeout design reserved 1 to mean \"no timeout\" (for XFS programs that passed 1), " +
                    "so FsFreeze refuses it rather than guess. Use -TimeoutSec 0 for no timeout, or 2 or more seconds.");
            }
            if (seconds < 0)
            {
                throw new FsFreezeException(FreezeErrorKind.InvalidTimeout, path,
                    $"-TimeoutSec {seconds} is negative. Use 0 for no timeout, or 2 or more seconds.");
            }
            if (seconds > int.MaxValue / 1000)
            {
                throw new FsFreezeException(FreezeErrorKind.InvalidTimeout, path,
                    $"-TimeoutSec {seconds} is too large (at most {int.MaxValue / 1000} seconds). Use 0 for no timeout.");
            }
        }

        /// <summary>The seed's rule (kernel patch series): 0 and 1 both mean no timeout.</summary>
        public static long FromSeed(long seedSeconds) => seedSeconds <= 1 ? 0 : seedSeconds;

        /// <summary>The wall-clock deadline for a period starting now; null for no timeout.</summary>
        public static DateTime? DeadlineFrom(DateTime nowUtc, long seconds) => seconds == 0 ? (DateTime?)null : nowUtc.AddSeconds(seconds);
    }
}

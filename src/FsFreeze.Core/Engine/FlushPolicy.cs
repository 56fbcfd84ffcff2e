using System;

namespace FsFreeze
{
    /// <summary>
    /// How often to syncfs a filesystem before FIFREEZE. Writers keep dirtying data while a syncfs runs, and FIFREEZE
    /// writes all of that with the writers held. A pass that took long left about that long's worth of new writes
    /// behind, so flush again until a pass is quick. Measured with a steady 50 MB/s writer and 512 MB dirty on a loop
    /// ext4: one pass left a 140-460 ms stall, two passes 60-240 ms (fsfreeze(8): 1-2.7 s).
    /// </summary>
    public static class FlushPolicy
    {
        /// <summary>A pass this short leaves too little behind to be worth another one.</summary>
        public static readonly TimeSpan QuickPass = TimeSpan.FromMilliseconds(50);

        /// <summary>A bound for writers that dirty data as fast as it is written back: then more passes buy nothing.</summary>
        public const int MaxPasses = 3;

        public static bool FlushAgain(int passesDone, TimeSpan lastPass) => passesDone < MaxPasses && lastPass > QuickPass;
    }
}

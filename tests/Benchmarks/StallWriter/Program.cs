// Writes a small block again and again into one file and timestamps every completed write with CLOCK_MONOTONIC.
// A write to a frozen filesystem sleeps until the thaw, so the longest gap between two writes is the stall a
// writer saw. The loop allocates nothing, so no garbage collection can add a gap of its own.
//
// Usage: StallWriter <file> [blockBytes=4096] [thresholdMicroseconds=20]
// stdout: "ready <nowNs>" once warm; after "stop" (or EOF) on stdin: one "gap <startNs> <endNs>" line per gap at
// or above the threshold, then "done <writes> <maxGapNs>". Times are CLOCK_MONOTONIC nanoseconds, the clock
// .NET's Stopwatch uses on Linux, so the benchmark can line gaps up with its own timestamps.
using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

static unsafe class Program
{
    private const int CLOCK_MONOTONIC = 1;
    private const int O_WRONLY = 1, O_CREAT = 0x40;
    private const int Blocks = 16; // cycle over 16 blocks: the writer itself never builds up dirty data

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec { public long Sec; public long Nsec; }

    [DllImport("libc", SetLastError = true)] private static extern int clock_gettime(int clock, Timespec* ts);
    [DllImport("libc", SetLastError = true)] private static extern int open(string path, int flags, int mode);
    [DllImport("libc", SetLastError = true)] private static extern nint pwrite(int fd, byte* buf, nint count, long offset);

    private static volatile bool _stop;

    private static long Now()
    {
        Timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.Sec * 1_000_000_000L + ts.Nsec;
    }

    private static int Main(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: StallWriter <file> [blockBytes] [thresholdMicroseconds]"); return 2; }
        int block = args.Length > 1 ? int.Parse(args[1]) : 4096;
        long threshold = (args.Length > 2 ? long.Parse(args[2]) : 20) * 1000;
        int fd = open(args[0], O_WRONLY | O_CREAT, 420 /* 0644 */);
        if (fd < 0) { Console.Error.WriteLine($"open {args[0]}: errno {Marshal.GetLastPInvokeError()}"); return 1; }

        var gaps = new long[2 * 1_000_000];
        int gapCount = 0;
        long writes = 0, maxGap = 0;
        var data = new byte[block];
        new Thread(() => { try { while (Console.In.ReadLine() is string l && l != "stop") { } } catch { } _stop = true; }) { IsBackground = true }.Start();

        fixed (byte* buf = data)
        {
            long warmUntil = Now() + 200_000_000; // 200 ms of writing before "ready": the loop and the page cache are warm
            bool ready = false;
            long prev = Now();
            while (!_stop)
            {
                if (pwrite(fd, buf, block, (writes % Blocks) * block) != block)
                {
                    Console.Error.WriteLine($"pwrite: errno {Marshal.GetLastPInvokeError()}");
                    return 1;
                }
                long now = Now();
                long gap = now - prev;
                writes++;
                if (ready)
                {
                    if (gap > maxGap) maxGap = gap;
                    if (gap >= threshold && gapCount < gaps.Length / 2) { gaps[2 * gapCount] = prev; gaps[2 * gapCount + 1] = now; gapCount++; }
                }
                else if (now >= warmUntil)
                {
                    ready = true;
                    Console.Out.WriteLine($"ready {now}");
                    Console.Out.Flush();
                    now = Now(); // the line above is not a write we measure
                }
                prev = now;
            }
        }
        var sb = new StringBuilder();
        for (int i = 0; i < gapCount; i++) sb.Append("gap ").Append(gaps[2 * i]).Append(' ').Append(gaps[2 * i + 1]).Append('\n');
        sb.Append("done ").Append(writes).Append(' ').Append(maxGap).Append('\n');
        Console.Out.Write(sb.ToString());
        Console.Out.Flush();
        return 0;
    }
}

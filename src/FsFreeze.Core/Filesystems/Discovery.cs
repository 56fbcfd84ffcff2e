using System;
using System.Collections.Generic;
using System.Linq;

namespace FsFreeze
{
    /// <summary>Why -All left a mount out of the set.</summary>
    public enum SkipReason
    {
        /// <summary>Its type cannot be frozen (FilesystemTypes: memory, pseudo, network, FUSE, overlay, no freeze support).</summary>
        Type,
        /// <summary>A type FsFreeze does not know, with no block device under it: not local storage.</summary>
        NoBlockDevice,
        /// <summary>A mount point of its filesystem matched an -Exclude pattern.</summary>
        Excluded,
        /// <summary>Another mount (a bind mount, a btrfs subvolume) of a filesystem that is a member already: frozen once.</summary>
        SameFilesystem,
        /// <summary>Every mount of it is hidden under a later mount: no path reaches it to freeze it.</summary>
        Hidden,
    }

    /// <summary>A mount -All did not freeze, and why: on -Verbose, -WhatIf, and as information records (-InformationVariable).</summary>
    public sealed class SkippedFilesystem
    {
        public string MountPoint { get; set; } = "";
        public string FileSystemType { get; set; } = "";
        public string Source { get; set; } = "";
        public string Device { get; set; } = "";
        public SkipReason Reason { get; set; }
        public string Why { get; set; } = "";

        public override string ToString() => $"{MountPoint} ({FileSystemType} on {Source}): {Why}";
    }

    /// <summary>What -All found: the members in freeze order, and every mount left out with its reason.</summary>
    public sealed class DiscoveryResult
    {
        public DiscoveryResult(IReadOnlyList<Filesystem> members, IReadOnlyList<SkippedFilesystem> skipped)
        {
            Members = members;
            Skipped = skipped;
        }

        public IReadOnlyList<Filesystem> Members { get; }
        public IReadOnlyList<SkippedFilesystem> Skipped { get; }
    }

    /// <summary>
    /// Every local filesystem of a mount table that can be frozen, once per superblock, like the agents that freeze a
    /// whole machine (qemu-ga, open-vm-tools): types that cannot be frozen are left out by the one list
    /// (<see cref="FilesystemTypes"/>), an unknown type only when it has no block device, and what an -Exclude glob names.
    /// Pure over the table given; the visibility probe and the loop backing files are injectable for tests.
    /// </summary>
    public static class Discovery
    {
        /// <param name="exclude">globs on mount points ('*' also matches '/', '?', '[set]'); a filesystem is left out when any of its mount points matches</param>
        /// <param name="isVisible">whether a path reaches this mount (not hidden by a later one); default: asks the kernel</param>
        /// <param name="backingFile">a loop device's backing file (tests substitute it); default: sysfs</param>
        public static DiscoveryResult Discover(MountTable table, IReadOnlyList<string>? exclude = null,
            Func<MountEntry, bool>? isVisible = null, Func<string, string?>? backingFile = null)
        {
            exclude ??= Array.Empty<string>();
            isVisible ??= e => MountIdentity.Of(e.MountPoint, table)?.MountId == e.MountId;
            var skipped = new List<SkippedFilesystem>();
            var groups = new List<List<MountEntry>>();
            var byDevice = new Dictionary<string, List<MountEntry>>(StringComparer.Ordinal);
            foreach (var e in table.Entries)
            {
                if (FilesystemTypes.WhyNot(e.FileSystemType) is string why)
                {
                    skipped.Add(Skip(e, SkipReason.Type, why));
                    continue;
                }
                if (FilesystemTypes.Classify(e.FileSystemType) == FilesystemClass.Unknown && e.Major == 0 && !e.Source.StartsWith("/dev/", StringComparison.Ordinal))
                {
                    skipped.Add(Skip(e, SkipReason.NoBlockDevice,
                        $"{e.FileSystemType} is not a type FsFreeze knows, and no block device is under it: not local storage it can freeze"));
                    continue;
                }
                if (!byDevice.TryGetValue(e.Device, out var list))
                {
                    byDevice[e.Device] = list = new List<MountEntry>();
                    groups.Add(list);
                }
                list.Add(e);
            }

            var members = new List<Filesystem>();
            foreach (var mounts in groups)
            {
                string? matched = null, matchedBy = null;
                foreach (var m in mounts)
                {
                    matched = exclude.FirstOrDefault(p => Glob.IsMatch(p, m.MountPoint));
                    if (matched != null) { matchedBy = m.MountPoint; break; }
                }
                if (matched != null)
                {
                    foreach (var m in mounts)
                    {
                        skipped.Add(Skip(m, SkipReason.Excluded, m.MountPoint == matchedBy
                            ? $"excluded by -Exclude '{matched}'"
                            : $"excluded by -Exclude '{matched}' (it matches '{matchedBy}', another mount of the same filesystem)"));
                    }
                    continue;
                }
                // One mount per superblock: the first one a path reaches, preferring a mount of the filesystem's own root.
                var chosen = mounts.Where(m => m.Root == "/").Concat(mounts.Where(m => m.Root != "/")).FirstOrDefault(isVisible);
                if (chosen == null)
                {
                    foreach (var m in mounts) skipped.Add(Skip(m, SkipReason.Hidden, "hidden under a later mount: no path reaches it, so it cannot be frozen (unmount what is on top of it)"));
                    continue;
                }
                foreach (var m in mounts)
                {
                    if (m != chosen) skipped.Add(Skip(m, SkipReason.SameFilesystem, $"the same filesystem as '{chosen.MountPoint}' (a bind mount or subvolume): frozen once, through '{chosen.MountPoint}'"));
                }
                members.Add(new Filesystem(chosen, chosen.MountPoint, chosen.MountPoint));
            }
            // The planner's safe order: nested mounts before their parents, a loop filesystem before the one holding its image.
            return new DiscoveryResult(FilesystemResolver.Plan(members, table, backingFile), skipped);
        }

        private static SkippedFilesystem Skip(MountEntry e, SkipReason reason, string why) => new SkippedFilesystem
        {
            MountPoint = e.MountPoint, FileSystemType = e.FileSystemType, Source = e.Source, Device = e.Device, Reason = reason, Why = why,
        };
    }

    /// <summary>Shell-style globs for -Exclude: '*' any run of characters ('/' included), '?' one, '[abc]', '[a-z]', '[!a]'; '\' escapes.</summary>
    public static class Glob
    {
        public static bool IsMatch(string pattern, string text)
        {
            if (pattern.Length > 1) pattern = pattern.TrimEnd('/');
            return Match(pattern, 0, text, 0);
        }

        private static bool Match(string p, int pi, string t, int ti)
        {
            while (pi < p.Length)
            {
                char c = p[pi];
                if (c == '*')
                {
                    while (pi < p.Length && p[pi] == '*') pi++;
                    if (pi == p.Length) return true;
                    for (int k = ti; k <= t.Length; k++) if (Match(p, pi, t, k)) return true;
                    return false;
                }
                if (ti >= t.Length) return false;
                if (c == '?') { pi++; ti++; continue; }
                if (c == '[')
                {
                    int end = p.IndexOf(']', pi + 2);
                    if (end > 0)
                    {
                        bool negate = p[pi + 1] == '!' || p[pi + 1] == '^';
                        int start = negate ? pi + 2 : pi + 1;
                        bool hit = false;
                        for (int k = start; k < end; k++)
                        {
                            if (k + 2 < end && p[k + 1] == '-') { if (t[ti] >= p[k] && t[ti] <= p[k + 2]) hit = true; k += 2; }
                            else if (p[k] == t[ti]) hit = true;
                        }
                        if (hit == negate) return false;
                        pi = end + 1;
                        ti++;
                        continue;
                    }
                }
                if (c == '\\' && pi + 1 < p.Length) { pi++; c = p[pi]; }
                if (c != t[ti]) return false;
                pi++;
                ti++;
            }
            return ti == t.Length;
        }
    }
}

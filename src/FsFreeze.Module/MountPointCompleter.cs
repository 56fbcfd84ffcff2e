using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace FsFreeze.Commands
{
    /// <summary>
    /// Tab completion for -Path: the mount points of mounted filesystems that FIFREEZE can work on.
    /// Use as [ArgumentCompleter(typeof(MountPointCompleter))] on a Path parameter.
    /// </summary>
    public sealed class MountPointCompleter : IArgumentCompleter
    {
        /// <summary>True for a type that FIFREEZE can never freeze (the core's one list decides).</summary>
        public static bool IsUnfreezableType(string fileSystemType) => !FilesystemTypes.MayFreeze(fileSystemType);

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
            string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            MountTable table;
            try { table = MountTable.Read(); }
            catch (Exception) { return Enumerable.Empty<CompletionResult>(); } // completion must never throw at the user
            return Complete(table, wordToComplete);
        }

        /// <summary>The completions for a word against a mount table: pure, so tests can feed it any table.</summary>
        public static IEnumerable<CompletionResult> Complete(MountTable table, string? wordToComplete)
        {
            var prefix = Unquote(wordToComplete ?? "");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var results = new List<CompletionResult>();
            foreach (var e in table.Entries.OrderBy(e => e.MountPoint, StringComparer.Ordinal))
            {
                if (IsUnfreezableType(e.FileSystemType)) continue;
                if (!e.MountPoint.StartsWith(prefix, StringComparison.Ordinal)) continue;
                if (!seen.Add(e.MountPoint)) continue; // stacked mounts: the point is offered once
                var ro = e.IsReadOnly ? ", read-only" : "";
                results.Add(new CompletionResult(Quote(e.MountPoint), e.MountPoint, CompletionResultType.ParameterValue,
                    $"{e.MountPoint}: {e.FileSystemType} on {e.Source} (device {e.Device}{ro})"));
            }
            return results;
        }

        private static string Unquote(string word)
        {
            if (word.Length > 0 && (word[0] == '\'' || word[0] == '"')) word = word.Substring(1);
            if (word.Length > 0 && (word[word.Length - 1] == '\'' || word[word.Length - 1] == '"')) word = word.Substring(0, word.Length - 1);
            return word;
        }

        // Single quotes keep spaces, $ and backticks literal; a quote inside is doubled.
        private static string Quote(string path) =>
            path.IndexOfAny(new[] { ' ', '\t', '\'', '"', '$', '`', '(', ')', '{', '}', ';', ',', '&', '@', '#' }) < 0
                ? path
                : "'" + path.Replace("'", "''") + "'";
    }
}

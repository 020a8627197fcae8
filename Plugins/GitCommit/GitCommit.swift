import Foundation
import PackagePlugin

/// Gives the `orch` target the git commit it is built from, for `orch --version`.
///
/// Before every build it writes `GitCommit.swift` (`enum GitCommit { static let short }`) into
/// the plugin's work folder, which SwiftPM compiles with the target: `git rev-parse --short HEAD`
/// of the package's own checkout, or "unknown" where there is no `.git` (a source archive, a
/// Docker build context without it) or no `git`. The file is rewritten only when the commit
/// changes, so an unchanged checkout recompiles nothing. No network, no state outside the build
/// folder.
@main
struct GitCommitPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "Generated")
        let package = context.package.directoryURL.path(percentEncoded: false)
        return [
            // A prebuild command runs on every build (a build command would run only when declared
            // inputs change, and HEAD moves through files git keeps to itself).
            .prebuildCommand(
                displayName: "Reading the git commit of \(package)",
                executable: URL(filePath: "/bin/sh"),
                arguments: ["-c", Self.script, "git-commit", package, output.path(percentEncoded: false)],
                outputFilesDirectory: output
            )
        ]
    }

    /// `$1`: the package folder, `$2`: the output folder (every file in it is compiled, so the
    /// new text is written beside it, then moved in). `.git` must be the package's own (a file for
    /// a worktree), so that a package vendored inside another repository does not report that
    /// repository's commit.
    static let script = #"""
        set -u
        PATH="${PATH:-/usr/bin:/bin}:/usr/bin:/bin:/usr/local/bin"
        commit=""
        if [ -e "$1/.git" ] && command -v git >/dev/null 2>&1; then
            commit=$(git -C "$1" rev-parse --short HEAD 2>/dev/null) || commit=""
        fi
        case "$commit" in
            "" | *[!0-9a-f]*) commit=unknown ;;
        esac
        mkdir -p "$2" || exit 1
        file="$2/GitCommit.swift"
        text="// Written by the GitCommit build plugin (Plugins/GitCommit) before each build.
        enum GitCommit {
            /// The short hash of the commit orch was built from, or \"unknown\" (no git, no .git).
            static let short = \"$commit\"
        }"
        if [ ! -f "$file" ] || [ "$(cat "$file")" != "$text" ]; then
            printf '%s\n' "$text" > "$2.tmp" && mv "$2.tmp" "$file"
        fi
        """#
}

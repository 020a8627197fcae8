internal import CFuzzer
import Glibc

/// One fuzz target: its name on the command line, what it checks, and the check run on each input.
/// A check that finds a property broken calls `fuzzFailure`, which aborts, and libFuzzer then
/// writes the input to a `crash-…` file.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    /// libFuzzer flags the target wants by default (before the caller's, which win).
    public let flags: [String]
    public let check: @Sendable ([UInt8]) -> Void

    public init(_ name: String, _ summary: String, flags: [String] = [], check: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.summary = summary
        self.flags = flags
        self.check = check
    }
}

nonisolated(unsafe) private var selected: FuzzTarget?
nonisolated(unsafe) private var running = ""

/// Reports a broken property and aborts. libFuzzer's SIGABRT handler writes the input to a file
/// and prints its name.
public func fuzzFailure(_ message: @autoclosure () -> String) -> Never {
    printError("\n==== orch-fuzz \(running): PROPERTY FAILED\n\(message())\n====\n")
    abort()
}

/// Writes straight to file descriptor 2 (unbuffered, and no shared `stderr` global).
public func printError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

/// `fuzzFailure` unless `condition` holds.
@inline(__always)
public func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fuzzFailure(message()) }
}

public enum FuzzMain {
    /// `PROGRAM TARGET [libFuzzer flags and corpus folders or input files…]`: runs TARGET under
    /// libFuzzer. `PROGRAM list` prints the targets.
    public static func run(_ targets: [FuzzTarget]) -> Never {
        var arguments = CommandLine.arguments
        // The Swift runtime's backtracer would take SIGABRT and SIGILL (fatalError, a failed
        // precondition) before libFuzzer, which then never writes the crashing input: start again
        // with it turned off.
        if getenv("SWIFT_BACKTRACE") == nil {
            setenv("SWIFT_BACKTRACE", "enable=no", 1)
            var argv = arguments.map { strdup($0) } + [nil]
            execv("/proc/self/exe", &argv)
            printError("cannot re-execute /proc/self/exe; set SWIFT_BACKTRACE=enable=no\n")
        }
        let program = arguments.first ?? "orch-fuzz"
        guard arguments.count >= 2, let target = targets.first(where: { $0.name == arguments[1] }) else {
            let known = arguments.count >= 2 && arguments[1] == "list"
            print("usage: \(program) TARGET [libFuzzer flags] [CORPUS_DIR… | INPUT_FILE…]\ntargets:")
            for t in targets { print("  " + t.name + String(repeating: " ", count: max(1, 10 - t.name.count)) + t.summary) }
            exit(known ? 0 : 2)
        }
        selected = target
        running = target.name
        arguments = [program] + target.flags + arguments.dropFirst(2)
        var argc = CInt(arguments.count)
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = UnsafeMutablePointer.allocate(capacity: arguments.count + 1)
        for (i, a) in arguments.enumerated() { argv![i] = strdup(a) }
        argv![arguments.count] = nil
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
            selected!.check(bytes)
            return 0
        })
    }
}

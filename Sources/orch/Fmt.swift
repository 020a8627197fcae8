import ArgumentParser
import OrchJSON
import OrchPolicy

struct Fmt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Rewrite orch.json in its one canonical layout.",
        discussion: """
            Two-space indent, one member a line with keys in the order written, arrays of strings \
            and numbers on one line when it fits in \(JSONFormatter.width) columns (else one item a \
            line), and a newline at the end. Strings and numbers stay exactly as written: only \
            whitespace changes. The file is replaced (a temporary file renamed over it, keeping its \
            owner and mode) only when its layout changes; nothing is printed when it is already \
            formatted.

            --check changes nothing: it prints a unified diff of what would change and exits 1, or \
            exits 0 when the file is formatted. A file that is not JSON: exit 2 with the line and \
            column of the error.
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The orch.json to format.", valueName: "FILE")) var file: String?
    @Flag(help: "Write nothing: print the diff and exit 1 when the file is not formatted.") var check = false

    func run() throws {
        let path = options.path(positional: file)
        let bytes = try ConfigOption.read(path)
        let formatted: [UInt8]
        do {
            formatted = try JSONFormatter.format(bytes)
        } catch {
            Console.error("\(path):\(error.line):\(error.column): error: \(error.message)")
            throw ExitCode(2)
        }
        if formatted == bytes { return }
        if check {
            let diff = LineDiff(old: bytes, new: formatted)
            Console.out(String(diff.unified(oldName: path, newName: "\(path) (formatted)").dropLast()))
            throw ExitCode(1)
        }
        do {
            try PolicyFile.replace(path, expecting: bytes, with: formatted)
        } catch {
            Console.error("orch: cannot write \(error.path): \(error.reason)")
            throw ExitCode(2)
        }
        Console.out("\(path): formatted")
    }
}

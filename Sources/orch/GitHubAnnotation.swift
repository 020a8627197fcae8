import Foundation
import OrchPolicy

/// A diagnostic as a GitHub Actions workflow command, which the runner shows as an annotation on
/// the file: `::error file=FILE,line=L,col=C::MESSAGE` (`::warning …` for a warning). The message
/// is `PATH: message`, as in the text output; `line` and `col` are left out when unknown.
enum GitHubAnnotation {
    static func line(_ diagnostic: Diagnostic, file: String) -> String {
        var properties = ["file=" + escapeProperty(file)]
        if let line = diagnostic.line {
            properties.append("line=\(line)")
            if let column = diagnostic.column { properties.append("col=\(column)") }
        }
        let message = diagnostic.path.isEmpty ? diagnostic.message : "\(diagnostic.path): \(diagnostic.message)"
        return "::\(diagnostic.severity.rawValue) \(properties.joined(separator: ","))::\(escapeData(message))"
    }

    /// The escaping of a command's message: `%`, CR and LF.
    static func escapeData(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": out += "%25"
            case "\r": out += "%0D"
            case "\n": out += "%0A"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The escaping of a property's value: the message's, and `:` and `,`, which end it.
    static func escapeProperty(_ text: String) -> String {
        escapeData(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}

import Foundation

/// Rendered diagnostics without their `:LINE:COL` (the golden fixtures pin the places; tests of a
/// message compare the rest).
func unplaced(_ lines: [String]) -> [String] {
    lines.map { $0.replacingOccurrences(of: #"^([^:]+):\d+:\d+: "#, with: "$1: ", options: .regularExpression) }
}

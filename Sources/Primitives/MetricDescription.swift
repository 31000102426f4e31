/// One metric family an operator can rely on: its Prometheus name, type, label names and help text. Each module
/// that emits metrics lists its families in a catalogue; the worker's exporter writes the help text as `# HELP`, and
/// the tests check that every family the worker emits, and every family the alert rules and the dashboard name, is
/// in a catalogue, so names are a contract rather than strings scattered through the code.
public struct MetricDescription: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case counter, gauge, histogram
    }

    public let name: String
    public let kind: Kind
    public let labels: [String]
    public let help: String

    public init(_ name: String, _ kind: Kind, labels: [String] = [], help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
    }
}

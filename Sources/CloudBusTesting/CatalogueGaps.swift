import MetricsTestKit
import Primitives

/// A family as a `TestMetrics` run saw it: name, kind and label names. For the tests that check a module's
/// catalogue covers everything it creates (KVM, ZBS, AgentHTTP).
public struct CreatedFamily: Hashable, CustomStringConvertible, Sendable {
    public var name: String
    public var kind: MetricDescription.Kind
    public var labels: Set<String>
    public var description: String { "\(name) (\(kind), labels \(labels.sorted()))" }
}

extension TestMetrics {
    /// Every family created in this run: counters, gauges (recorders) and timers (exported as histograms).
    public var createdFamilies: Set<CreatedFamily> {
        Set(counters.map { CreatedFamily(name: $0.label, kind: .counter, labels: Set($0.dimensions.map(\.0))) })
            .union(recorders.map { CreatedFamily(name: $0.label, kind: .gauge, labels: Set($0.dimensions.map(\.0))) })
            .union(timers.map { CreatedFamily(name: $0.label, kind: .histogram, labels: Set($0.dimensions.map(\.0))) })
    }
}

/// The families created in `metrics` that `catalog` does not describe exactly (name, kind and label names).
public func catalogueGaps(_ metrics: TestMetrics, _ catalog: [MetricDescription]) -> [CreatedFamily] {
    let described = Set(catalog.map { CreatedFamily(name: $0.name, kind: $0.kind, labels: Set($0.labels)) })
    return metrics.createdFamilies.subtracting(described).sorted { $0.name < $1.name }
}

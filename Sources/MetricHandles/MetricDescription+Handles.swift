import Metrics
import Primitives

/// Handles of a catalogued family, made once (at init) so counting on the hot path renders no label. One module so
/// that every domain module (KVM, ZBS) makes its handles the same way from its catalogue entries.
extension MetricDescription {
    /// The counter of this family whose labels take `values`, in the order of ``labels``.
    public func counter(_ values: String..., factory: any MetricsFactory) -> Counter {
        Counter(label: name, dimensions: dimensions(values), factory: factory)
    }

    /// The gauge of this family whose labels take `values`, in the order of ``labels``.
    public func gauge(_ values: String..., factory: any MetricsFactory) -> Gauge {
        Gauge(label: name, dimensions: dimensions(values), factory: factory)
    }

    private func dimensions(_ values: [String]) -> [(String, String)] {
        precondition(values.count == labels.count, "\(name) takes labels \(labels)")
        return Array(zip(labels, values))
    }
}

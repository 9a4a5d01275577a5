import Metrics

/// The gauges of one metric over a changing set of label values, as a leader exports readings
/// of the whole fleet: ``set(_:)`` records this round's readings and withdraws the label sets
/// that are gone; ``withdraw()`` removes every series (a worker that stops leading exports none,
/// so no stale reading outlives a change of leader).
public final class GaugeFamily {
    private let label: String
    private let labelNames: [String]
    private var gauges: [[String]: Gauge] = [:]

    /// A family `label` whose series carry `labelNames` (none: a single series).
    public init(_ label: String, labels labelNames: [String] = []) {
        self.label = label
        self.labelNames = labelNames
    }

    /// Records `readings` (label values in ``labelNames`` order, and the value); series not in them are withdrawn.
    public func set(_ readings: [(labels: [String], value: Double)]) {
        var seen: Set<[String]> = []
        for reading in readings {
            seen.insert(reading.labels)
            let gauge = gauges[reading.labels] ?? Gauge(label: label, dimensions: Array(zip(labelNames, reading.labels)))
            gauge.record(reading.value)
            gauges[reading.labels] = gauge
        }
        for (labels, gauge) in gauges where !seen.contains(labels) {
            gauge.destroy()
            gauges[labels] = nil
        }
    }

    /// Removes every series of the family.
    public func withdraw() {
        for gauge in gauges.values { gauge.destroy() }
        gauges = [:]
    }
}

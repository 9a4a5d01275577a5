import EncoursRuntime
import Foundation
import Testing

@Suite("the metrics catalog, the dashboard and the alert rules agree")
struct MetricsCatalogTests {
    /// The `encours_...` metric names `path` mentions, histogram suffixes stripped.
    func metricNames(in path: String) throws -> Set<String> {
        let text = try String(contentsOfFile: FileManager.default.currentDirectoryPath + "/" + path, encoding: .utf8)
        let expression = try NSRegularExpression(pattern: "encours_[a-z_]+")
        let matches = expression.matches(in: text, range: NSRange(text.startIndex..., in: text))
        // `encours_queue_*` in a comment names a family, not a metric.
        return Set(matches.compactMap { Range($0.range, in: text).map { String(text[$0]) } }.filter { !$0.hasSuffix("_") }.map { name in
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && MetricsCatalog.help[String(name.dropLast(suffix.count))] != nil {
                return String(name.dropLast(suffix.count))
            }
            return name
        })
    }

    @Test("every metric the Grafana dashboard and the alert rules name is one /metrics exports; the dashboard shows them all")
    func namesExist() throws {
        let dashboard = try metricNames(in: "deploy/grafana/encours-dashboard.json")
        let exported = Set(MetricsCatalog.help.keys)
        #expect(dashboard.subtracting(exported).isEmpty, "not exported: \(dashboard.subtracting(exported).sorted())")
        #expect(exported.subtracting(dashboard).isEmpty, "not on the dashboard: \(exported.subtracting(dashboard).sorted())")
        // Alert rule names (Encours...) are not metrics; every metric they use is exported.
        let rules = try metricNames(in: "deploy/prometheus/encours-alerts.yml")
        #expect(!rules.isEmpty)
        #expect(rules.subtracting(exported).isEmpty, "not exported: \(rules.subtracting(exported).sorted())")
    }

    @Test("the exposition gets a HELP line before each TYPE line of a catalogued metric, and nothing else changes")
    func helpLines() {
        let exposition = """
            # TYPE encours_jobs_claimed_total counter
            encours_jobs_claimed_total 5
            # TYPE other_metric gauge
            other_metric 1

            """
        let withHelp = String(decoding: MetricsCatalog.withHelp(Array(exposition.utf8)), as: UTF8.self)
        #expect(withHelp == """
            # HELP encours_jobs_claimed_total Jobs claimed by this worker.
            # TYPE encours_jobs_claimed_total counter
            encours_jobs_claimed_total 5
            # TYPE other_metric gauge
            other_metric 1

            """)
        #expect(MetricsCatalog.withHelp([]).isEmpty)
    }
}

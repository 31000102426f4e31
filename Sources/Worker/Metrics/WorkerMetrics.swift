import CoreMetrics
import Primitives
import Prometheus
import Synchronization

/// One worker's metrics: swift-metrics handles registered in the worker's own Prometheus registry (never the
/// process-global `MetricsSystem`, so that several workers in one test process keep their counts apart), exported
/// by ``exposition()`` in the Prometheus text format with `# HELP` and `# TYPE`. Domain modules get ``factory`` and
/// make their own handles; the families are listed in ``WorkerMetrics/catalogue``.
///
/// The handles the delivery path uses are made once (per registered class and outcome, ahead of the first
/// message), so counting renders no label strings; gauges that mirror state owned elsewhere (executor, broker
/// connections) are read at scrape time by collectors instead of being pushed on every change.
public final class WorkerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// For handles made outside this type (KVM, ZBS, agent calls); same registry, same help texts.
    public let factory: any MetricsFactory

    let received: CoreMetrics.Counter
    let replies: CoreMetrics.Counter
    let repliesResent: CoreMetrics.Counter
    let repliesUnroutable: CoreMetrics.Counter
    let outputs: CoreMetrics.Counter
    let outputsUnroutable: CoreMetrics.Counter
    let outboxRepublished: CoreMetrics.Counter
    let publishFailures: CoreMetrics.Counter
    let answerBatches: CoreMetrics.Counter
    let answerJournalFailures: CoreMetrics.Counter
    let events: CoreMetrics.Counter
    let untrustedEvents: CoreMetrics.Counter
    let eventFailures: CoreMetrics.Counter
    let heartbeats: CoreMetrics.Counter
    let heartbeatFailures: CoreMetrics.Counter
    let membersDeclaredLeft: CoreMetrics.Counter
    let ringChanges: CoreMetrics.Counter
    let drained: CoreMetrics.Counter
    private let deadLetters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let classes = Mutex<[String: ClassSeries]>([:])
    private let collectors = Mutex<[@Sendable () -> Void]>([])

    public init() {
        let registry = PrometheusCollectorRegistry()
        let factory = CataloguedPrometheusFactory(
            registry: registry, catalogue: Self.catalogue, buckets: Self.durationBuckets)
        self.registry = registry
        self.factory = factory
        func counter(_ name: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: name, factory: factory) }
        received = counter(Family.received)
        replies = counter(Family.replies)
        repliesResent = counter(Family.repliesResent)
        repliesUnroutable = counter(Family.repliesUnroutable)
        outputs = counter(Family.outputs)
        outputsUnroutable = counter(Family.outputsUnroutable)
        outboxRepublished = counter(Family.outboxRepublished)
        publishFailures = counter(Family.publishFailures)
        answerBatches = counter(Family.answerBatches)
        answerJournalFailures = counter(Family.answerJournalFailures)
        events = counter(Family.events)
        untrustedEvents = counter(Family.untrustedEvents)
        eventFailures = counter(Family.eventFailures)
        heartbeats = counter(Family.heartbeats)
        heartbeatFailures = counter(Family.heartbeatFailures)
        membersDeclaredLeft = counter(Family.membersDeclaredLeft)
        ringChanges = counter(Family.ringChanges)
        drained = counter(Family.drained)
    }

    /// Histogram buckets of every duration: a ping answers in milliseconds, a storage call or a request drained
    /// from a departed worker may take minutes.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(600),
    ]

    /// The per-class series of a registered message class, made on first use and kept.
    func series(for className: String) -> ClassSeries {
        classes.withLock { classes in
            if let series = classes[className] { return series }
            let series = ClassSeries(className: className, factory: factory)
            classes[className] = series
            return series
        }
    }

    /// Counts a dead-letter copy by reason. Reasons are the code's own constants (never a value from the wire), so
    /// the label set stays small.
    func deadLettered(reason: String) {
        let counter = deadLetters.withLock { counters in
            if let counter = counters[reason] { return counter }
            let counter = CoreMetrics.Counter(label: Family.deadLetters, dimensions: [("reason", reason)], factory: factory)
            counters[reason] = counter
            return counter
        }
        counter.increment()
    }

    /// Runs `collect` before every export: for gauges that mirror state owned elsewhere.
    public func addCollector(_ collect: @escaping @Sendable () -> Void) {
        collectors.withLock { $0.append(collect) }
    }

    /// The Prometheus text exposition (format 0.0.4) of every family, gauges refreshed first.
    public func exposition() -> String {
        for collect in collectors.withLock({ $0 }) { collect() }
        return registry.emitToString()
    }

    /// The sum of the samples of `query.name` whose labels include `query.labels`, read back from
    /// ``exposition()``: what an operator's Prometheus would scrape, not an internal tally.
    public subscript(query: MetricQuery) -> Int {
        Int(PrometheusText.sum(of: query, in: exposition()))
    }
}

/// The series of one message class: a counter per outcome, made up front, and the consume → ack histogram.
struct ClassSeries: Sendable {
    private let counters: [CoreMetrics.Counter]
    let duration: Timer

    init(className: String, factory: any MetricsFactory) {
        counters = MessageOutcome.allCases.map {
            CoreMetrics.Counter(label: WorkerMetrics.Family.messages,
                                dimensions: [("class", className), ("outcome", $0.rawValue)], factory: factory)
        }
        duration = Timer(label: WorkerMetrics.Family.duration, dimensions: [("class", className)], factory: factory)
    }

    func count(_ outcome: MessageOutcome) { counters[outcome.index].increment() }
}

/// How a request of a registered class ended (`outcome` label of `cloudbus_worker_messages_total`).
public enum MessageOutcome: String, CaseIterable, Sendable {
    /// The handler answered (or, for a one-way message, finished).
    case handled
    /// The handler threw: an error reply was sent.
    case handlerError = "handler_error"
    /// The handler refused the request's content (an error reply and a dead-letter copy).
    case badRequest = "bad_request"
    /// A copy of a message already in flight or answered: not run again.
    case duplicate
    /// Refused after `deliveryLimit` unsettled deliveries.
    case poison
    /// A one-way sync acked without running: one of its kind already waited on the key.
    case coalesced
    /// Refused: too many requests already waited behind its key.
    case keyBacklogFull = "key_backlog_full"
    /// Its deadline passed before it ran.
    case expired
    /// Its handler was still running at the deadline: cancelled, timeout reply.
    case deadlineExceeded = "deadline_exceeded"
    /// Passed on to the worker that owns its resource.
    case forwarded
    /// Refused after too many forwarding hops.
    case forwardLoop = "forward_loop"
    /// Returned to its queue for redelivery: its outputs, its reply, its key's pending outbox or its forwarded copy
    /// were not confirmed by the broker. Counted per attempt; the redelivery counts again under its own outcome.
    case givenBack = "given_back"

    /// Position in ``allCases`` (declaration order), a switch the compiler reduces to the case's own tag: this
    /// runs per message, where a dictionary lookup hashed the case each time. A test holds it to `allCases`.
    var index: Int {
        switch self {
        case .handled: 0
        case .handlerError: 1
        case .badRequest: 2
        case .duplicate: 3
        case .poison: 4
        case .coalesced: 5
        case .keyBacklogFull: 6
        case .expired: 7
        case .deadlineExceeded: 8
        case .forwarded: 9
        case .forwardLoop: 10
        case .givenBack: 11
        }
    }
}

/// A family and a subset of its labels, for reading a count back from the exposition (tests, `config check`).
public struct MetricQuery: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let labels: [String: String]

    public init(_ name: String, _ labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }

    public var description: String {
        labels.isEmpty ? name : name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }
            .joined(separator: ",") + "}"
    }
}

/// Reads samples back from the Prometheus text format.
enum PrometheusText {
    static func sum(of query: MetricQuery, in text: String) -> Double {
        var total = 0.0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let sample = parse(line), sample.name == query.name else { continue }
            guard query.labels.allSatisfy({ sample.labels[$0.key] == $0.value }) else { continue }
            total += sample.value
        }
        return total
    }

    struct Sample {
        var name: Substring
        var labels: [String: String]
        var value: Double
    }

    /// `name{a="x",b="y"} 12` or `name 12`; label values may hold `\"`, `\\` and `\n` escapes.
    static func parse(_ line: Substring) -> Sample? {
        guard let valueStart = line.lastIndex(of: " "), let value = Double(line[line.index(after: valueStart)...])
        else { return nil }
        let head = line[..<valueStart]
        guard let brace = head.firstIndex(of: "{") else { return Sample(name: head, labels: [:], value: value) }
        var labels: [String: String] = [:]
        var rest = head[head.index(after: brace)...]
        while let equals = rest.firstIndex(of: "=") {
            let key = String(rest[..<equals]).trimmingPrefix(",")
            var index = rest.index(equals, offsetBy: 2, limitedBy: rest.endIndex) ?? rest.endIndex
            var labelValue = ""
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\", rest.index(after: index) < rest.endIndex {
                    index = rest.index(after: index)
                    labelValue.append(rest[index] == "n" ? "\n" : rest[index])
                } else {
                    labelValue.append(rest[index])
                }
                index = rest.index(after: index)
            }
            labels[String(key)] = labelValue
            rest = index < rest.endIndex ? rest[rest.index(after: index)...] : rest[rest.endIndex...]
        }
        return Sample(name: head[..<brace], labels: labels, value: value)
    }
}

import Logging

/// A log handler that hands each event — level, message, and the handler's metadata merged with the event's — to
/// `record`, for a test to read what was logged.
public struct RecordingLogHandler: LogHandler {
    public struct Event: Sendable {
        public let level: Logger.Level
        public let message: String
        public let metadata: Logger.Metadata
    }

    private let record: @Sendable (Event) -> Void
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(record: @escaping @Sendable (Event) -> Void) {
        self.record = record
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        record(Event(level: event.level, message: event.message.description,
                     metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

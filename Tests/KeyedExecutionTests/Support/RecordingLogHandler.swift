import Logging

/// A log handler that hands every event's message (with its level) to a ``Recorder``.
struct RecordingLogHandler: LogHandler {
    let recorder: Recorder<(level: Logger.Level, message: String)>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.record((event.level, event.message.description))
    }

    static func logger(recordingInto recorder: Recorder<(level: Logger.Level, message: String)>) -> Logger {
        Logger(label: "KeyedExecutionTests") { _ in RecordingLogHandler(recorder: recorder) }
    }
}

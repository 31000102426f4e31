import CloudBusTesting
import Logging

extension RecordingLogHandler {
    /// A logger whose every event's level and message go to `recorder`.
    static func logger(recordingInto recorder: Recorder<(level: Logger.Level, message: String)>) -> Logger {
        Logger(label: "KeyedExecutionTests") { _ in RecordingLogHandler { recorder.record(($0.level, $0.message)) } }
    }
}

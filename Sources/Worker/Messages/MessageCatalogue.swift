import CloudBus
import KVMMessages
import ZBSMessages

/// Every message, reply and event class this worker can decode: the wire's own, the KVM and ZBS domains' and the
/// worker's (echo, settings). The CLI decodes replies with it; the schema tests check every example against it.
public enum MessageCatalogue {
    public static let all = MessageRegistry(
        MessageRegistry.wireTypes + KVMMessageTypes.all + ZbsMessageTypes.all + workerTypes)

    /// The worker's own messages (class names `cloudbus.worker.*`).
    public static let workerTypes: [any BusMessage.Type] = [
        EchoMsg.self, EchoReply.self, UpdateSettingMsg.self, UpdateSettingReply.self,
    ]
}

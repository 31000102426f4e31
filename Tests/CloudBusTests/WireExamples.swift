import CloudBus
import Foundation
import KVMMessages

/// Bodies copied from the wire reference (`zstack-cloudbus-wire.md` §2.6), the way a Java node sends them.
enum WireExamples {
    static let nodeA = "446d0be655ec32fc9922965af3bd984f"
    static let nodeB = "9b1d387e11bd3ab0a673c655eb4c8f66"
    static let requestId = "f366ad3eff954f0fbf9e572ac462ff7b"
    static let hostUuid = "7dd11952b3c94fd5bbe94a140d7fbac6"

    /// What these tests decode with: the wire's own types, ZStack's KVM messages the examples use, the tests' probe.
    static let registry = MessageRegistry(
        MessageRegistry.wireTypes + KVMMessageTypes.all + [ProbeMsg.self, ProbeReply.self])

    static let pingHostMsg = """
        {"org.zstack.header.host.PingHostMsg":{
          "hostUuid":"7dd11952b3c94fd5bbe94a140d7fbac6",
          "timeout":1800000,"messageDeadline":1740741417000,
          "headers":{"correlationId":"f366ad3eff954f0fbf9e572ac462ff7b",
                     "replyTo":"zstack.message.cloudbus.446d0be655ec32fc9922965af3bd984f",
                     "noReply":"false","schema":{},"task-context":{}},
          "id":"f366ad3eff954f0fbf9e572ac462ff7b",
          "serviceId":"host.9b1d387e11bd3ab0a673c655eb4c8f66",
          "createdTime":1740739617000}}
        """

    static let pingHostReply = """
        {"org.zstack.header.host.PingHostReply":{
          "connected":true,"currentHostStatus":"Connected","noReconnect":false,
          "success":true,"canceled":false,
          "headers":{"isReply":"true","correlationId":"f366ad3eff954f0fbf9e572ac462ff7b","schema":{},"task-context":{}},
          "id":"0c5b2f0e3d7a4f4c9b1e2d3c4b5a6978",
          "serviceId":"zstack.message.cloudbus.446d0be655ec32fc9922965af3bd984f",
          "createdTime":1740739617450}}
        """

    static let nodeUnavailableReply = """
        {"org.zstack.header.message.MessageReply":{
          "success":false,"canceled":false,
          "error":{"code":"SYS.1012","description":"The management node is unavailable",
                   "details":"management node[uuid:9b1d387e11bd3ab0a673c655eb4c8f66] is unavailable","cost":"0ms"},
          "headers":{"isReply":"true","correlationId":"f366ad3eff954f0fbf9e572ac462ff7b",
                     "schema":{"error":"org.zstack.header.errorcode.ErrorCodeList"},"task-context":{}},
          "id":"9e8d7c6b5a4f4e3d8c2b1a0f9e8d7c6b",
          "serviceId":"zstack.message.cloudbus.446d0be655ec32fc9922965af3bd984f","createdTime":1740739650000}}
        """

    static let skipTraceEvent = """
        {"org.zstack.core.cloudbus.CanonicalEvent":{
          "path":"/vmTracer/skipTrace",
          "content":{"vmUuid":"1c2d3e4f5a6b4c7d8e9f0a1b2c3d4e5f","apiId":"a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d",
                     "msgName":"org.zstack.header.vm.APIMigrateVmMsg","managementNodeId":"446d0be655ec32fc9922965af3bd984f"},
          "managementNodeId":"446d0be655ec32fc9922965af3bd984f",
          "type":{"_name":"key.event.LOCAL.canonicalEvent"},
          "headers":{"schema":{"content":"org.zstack.header.vm.VmTracerCanonicalEvents$VmSkipTraceData"},"task-context":{}},
          "id":"3c4d5e6f7a8b4c9d8e0f1a2b3c4d5e6f","createdTime":1740739617000}}
        """

    static func data(_ text: String) -> Data { Data(text.utf8) }
}

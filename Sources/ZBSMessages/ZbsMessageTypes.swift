import CloudBus

/// Every ZBS message and reply type: the worker registers them all (`MessageCatalogue.all`) and routes the requests
/// to the ZBS handlers.
public enum ZbsMessageTypes {
    public static let all: [any BusMessage.Type] = [
        UpdateZbsPrimaryStorageMsg.self, UpdateZbsPrimaryStorageReply.self,
        GetVolumeClientsMsg.self, GetVolumeClientsReply.self,
        CreateVolumeMsg.self, CreateVolumeReply.self,
        DeleteVolumeMsg.self, DeleteVolumeReply.self,
        ExpandVolumeMsg.self, ExpandVolumeReply.self,
        QueryVolumeMsg.self, QueryVolumeReply.self,
        CreateVolumeSnapshotsMsg.self, CreateVolumeSnapshotsReply.self,
        DeleteVolumeSnapshotMsg.self, DeleteVolumeSnapshotReply.self,
        RollbackVolumeSnapshotMsg.self, RollbackVolumeSnapshotReply.self,
        GetZbsCapacityMsg.self, GetZbsCapacityReply.self,
        CheckVolumeClientsBeforeStartVmMsg.self, CheckVolumeClientsBeforeStartVmReply.self,
    ]
}

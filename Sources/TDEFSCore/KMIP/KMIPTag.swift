/// The KMIP 1.x tags and enumeration values tdefs uses (KMIP 1.1 specification, sections 9.1.3.1
/// and 9.1.3.2). Only what the key source needs: a message frame, the Create, Activate, Get,
/// Encrypt, Decrypt, Revoke and Destroy operations and their fields.
public enum KMIPTag {
    public static let attribute: UInt32 = 0x420008
    public static let attributeName: UInt32 = 0x42000A
    public static let attributeValue: UInt32 = 0x42000B
    public static let batchCount: UInt32 = 0x42000D
    public static let batchItem: UInt32 = 0x42000F
    public static let blockCipherMode: UInt32 = 0x420011
    public static let cryptographicAlgorithm: UInt32 = 0x420028
    public static let cryptographicLength: UInt32 = 0x42002A
    public static let cryptographicParameters: UInt32 = 0x42002B
    public static let cryptographicUsageMask: UInt32 = 0x42002C
    public static let ivCounterNonce: UInt32 = 0x42003D
    public static let keyBlock: UInt32 = 0x420040
    public static let keyFormatType: UInt32 = 0x420042
    public static let keyMaterial: UInt32 = 0x420043
    public static let keyValue: UInt32 = 0x420045
    public static let name: UInt32 = 0x420053
    public static let nameType: UInt32 = 0x420054
    public static let nameValue: UInt32 = 0x420055
    public static let objectType: UInt32 = 0x420057
    public static let operation: UInt32 = 0x42005C
    public static let paddingMethod: UInt32 = 0x42005F
    public static let protocolVersion: UInt32 = 0x420069
    public static let protocolVersionMajor: UInt32 = 0x42006A
    public static let protocolVersionMinor: UInt32 = 0x42006B
    public static let requestHeader: UInt32 = 0x420077
    public static let requestMessage: UInt32 = 0x420078
    public static let requestPayload: UInt32 = 0x420079
    public static let responseHeader: UInt32 = 0x42007A
    public static let responseMessage: UInt32 = 0x42007B
    public static let responsePayload: UInt32 = 0x42007C
    public static let resultMessage: UInt32 = 0x42007D
    public static let resultReason: UInt32 = 0x42007E
    public static let resultStatus: UInt32 = 0x42007F
    public static let revocationReason: UInt32 = 0x420081
    public static let revocationReasonCode: UInt32 = 0x420082
    public static let symmetricKey: UInt32 = 0x42008F
    public static let templateAttribute: UInt32 = 0x420091
    public static let timeStamp: UInt32 = 0x420092
    public static let uniqueIdentifier: UInt32 = 0x420094
    public static let data: UInt32 = 0x4200C2
}

/// KMIP enumeration values.
public enum KMIPEnum {
    public enum Operation: UInt32, Sendable {
        case create = 0x01, locate = 0x08, get = 0x0A, activate = 0x12, revoke = 0x13, destroy = 0x14, encrypt = 0x1F, decrypt = 0x20
    }
    public static let objectTypeSymmetricKey: UInt32 = 0x02
    public static let algorithmAES: UInt32 = 0x03
    public static let usageEncrypt: Int32 = 0x04
    public static let usageDecrypt: Int32 = 0x08
    public static let modeCBC: UInt32 = 0x01
    public static let paddingPKCS5: UInt32 = 0x03
    public static let nameTypeText: UInt32 = 0x01
    public static let keyFormatRaw: UInt32 = 0x01
    /// Result Status.
    public static let statusSuccess: UInt32 = 0x00
    /// Result Reasons (KMIP 1.2, 9.1.3.2.29) that say the key is gone or may not be used: Item
    /// Not Found (destroyed, unknown), Permission Denied (revoked, deactivated, not this client's),
    /// Object Archived. General Failure says nothing about the key.
    public static let reasonItemNotFound: UInt32 = 0x01
    public static let reasonPermissionDenied: UInt32 = 0x0C
    public static let reasonObjectArchived: UInt32 = 0x0D
    public static let reasonGeneralFailure: UInt32 = 0x100
    /// Revocation Reason Code: the key is withdrawn by its owner (customer-managed key revoked).
    public static let revocationCessationOfOperation: UInt32 = 0x06
}

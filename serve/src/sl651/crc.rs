//! CRC-16/MODBUS, the check of every SL 651 frame.

/// CRC-16/MODBUS of `bytes`: polynomial 0x8005 reflected (0xA001), initial
/// value 0xFFFF, no final XOR. SL 651 writes it high byte first.
///
/// ```
/// // the catalogue check value of CRC-16/MODBUS
/// assert_eq!(yingji_serve::sl651::crc16(b"123456789"), 0x4B37);
/// ```
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

//! Request bodies of the LiveKit RoomService Twirp methods, in both encodings
//! (protobuf and protobuf-JSON), through the decoding the handler runs, and the
//! participant overrides an UpdateParticipant body applies. Never a panic.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use livekit_protocol as proto;
use streamcart::livekit::participants::Overrides;
use streamcart::livekit::twirp::Codec;

fn decode_all(codec: Codec, body: &[u8]) {
    let _ = codec.decode::<proto::CreateRoomRequest>(body);
    let _ = codec.decode::<proto::ListRoomsRequest>(body);
    let _ = codec.decode::<proto::DeleteRoomRequest>(body);
    let _ = codec.decode::<proto::ListParticipantsRequest>(body);
    let _ = codec.decode::<proto::RoomParticipantIdentity>(body);
    let _ = codec.decode::<proto::MuteRoomTrackRequest>(body);
    let _ = codec.decode::<proto::UpdateSubscriptionsRequest>(body);
    let _ = codec.decode::<proto::SendDataRequest>(body);
    let _ = codec.decode::<proto::UpdateRoomMetadataRequest>(body);
    if let Ok(request) = codec.decode::<proto::UpdateParticipantRequest>(body) {
        let mut overrides = Overrides::default();
        overrides.apply(&request.metadata, &request.name, &request.attributes, request.permission.as_ref());
        overrides.apply("", "", &HashMap::new(), None);
    }
}

fuzz_target!(|body: &[u8]| {
    decode_all(Codec::Protobuf, body);
    decode_all(Codec::Json, body);
});

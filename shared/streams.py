"""JetStream streams and subjects.

One stream per producing service, declared by that service only; consumers bind to it without
declaring. The OA publishes its events (``duban.oa.…``) into stream DUBAN_OA, declared by intake,
which reads them. The subject of an event is its CloudEvents type (``duban.<service>.<entity>.<what>.v1``).
A consuming service's dead letters go to ``duban.dlq.<service>.<consumer>``, kept in the
consuming service's own stream.
"""

from dataclasses import dataclass

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from shared.settings import Settings


@dataclass(frozen=True)
class StreamSpec:
    service: str
    holds_dead_letters: bool = True

    @property
    def name(self) -> str:
        return f"DUBAN_{self.service.upper()}"

    @property
    def events_subject(self) -> str:
        return f"duban.{self.service}.>"

    @property
    def dead_letter_subjects(self) -> str:
        return f"duban.dlq.{self.service}.>"

    def config(self, settings: Settings) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=[self.events_subject]
            + ([self.dead_letter_subjects] if self.holds_dead_letters else []),
            # Limits retention keeps history, so a service's state can be rebuilt by replay.
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            num_replicas=settings.stream_replicas,
            duplicate_window=settings.duplicate_window_s,
        )


def stream_of(service: str) -> StreamSpec:
    return OA_STREAM if service == OA_STREAM.service else StreamSpec(service)


OA_STREAM = StreamSpec("oa", holds_dead_letters=False)  # an outside producer: nobody consumes on its behalf


def dead_letter_subject(service: str, consumer: str) -> str:
    return f"duban.dlq.{service}.{consumer}"

"""Audio input for the toy: WAV files, microphone capture and endpointing."""

from device.audio.wav import SAMPLE_RATE, AudioInputError, load_wav_pcm16

__all__ = ["SAMPLE_RATE", "AudioInputError", "load_wav_pcm16"]

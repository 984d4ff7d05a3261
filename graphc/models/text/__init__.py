"""Language models and tokenizers: a decoder-only Transformer (GPT-2's architecture, with
GPT-2's weight names) and an LSTM, both trained on next-token loss and generating inside one
compiled while loop; character and subword tokenizers. See docs/text-models.md."""

from graphc.models.text.generation import (  # noqa: F401
    LanguageModel,
    gumbel,
    kth_largest,
    sample,
    top_k_filter,
    uniform_noise,
)
from graphc.models.text.gpt2 import gpt2_names, load_gpt2_weights  # noqa: F401
from graphc.models.text.lstm_lm import LSTMLM  # noqa: F401
from graphc.models.text.tokenizers import CharTokenizer, SubwordTokenizer  # noqa: F401
from graphc.models.text.transformer_lm import (  # noqa: F401
    TransformerLM,
    TransformerLMConfig,
    sinusoidal_positions,
)

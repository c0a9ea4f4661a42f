import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.choices import POOLINGS
from models.classifier import RNNClassifier
from models.encoder import CELLS, RecurrentStack, reverse_within_lengths


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_a_prediction(cell, pooling, bidirectional):
    torch.manual_seed(0)
    model = RNNClassifier(50, 3, cell=cell, embed_dim=8, hidden_size=6, num_layers=2, bidirectional=bidirectional, dropout=0.2, pooling=pooling).eval()
    sentence = torch.tensor([[5, 9, 13, 2]])
    alone = model(sentence, torch.tensor([4]))
    batch = torch.zeros((3, 11), dtype=torch.long)
    batch[0, :4] = sentence
    batch[1, :11] = torch.arange(3, 14)
    batch[2, :2] = torch.tensor([7, 8])
    together = model(batch, torch.tensor([4, 11, 2]))
    assert together.shape == (3, 3)
    assert torch.allclose(alone[0], together[0], atol=1e-5)


def test_reverse_within_lengths_keeps_padding_last_and_is_its_own_inverse():
    x = torch.arange(1, 9, dtype=torch.float).reshape(2, 4, 1)
    lengths = torch.tensor([4, 2])
    flipped = reverse_within_lengths(x, lengths)
    assert flipped[..., 0].tolist() == [[4, 3, 2, 1], [6, 5, 7, 8]]
    assert torch.equal(reverse_within_lengths(flipped, lengths), x)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_recurrent_stack_equals_torch_bidirectional_rnn_on_packed_sequences(cell):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 4, num_layers=2, bidirectional=True, dropout=0.0)
    reference = CELLS[cell](5, 4, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():  # the reference's weights, layer by layer and direction by direction
        for layer in range(2):
            for direction, suffix in enumerate(("", "_reverse")):
                for name, param in stack.layers[layer][direction].named_parameters():
                    param.copy_(getattr(reference, name.replace("l0", f"l{layer}") + suffix))
    x, lengths = torch.randn(3, 7, 5), torch.tensor([7, 3, 1])
    expected, _ = pad_packed_sequence(reference(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[0], batch_first=True)
    got = stack(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        assert torch.allclose(got[row, :n], expected[row, :n], atol=1e-6)


def test_pretrained_embeddings_can_be_frozen():
    weights = torch.randn(10, 4)
    model = RNNClassifier(10, 2, embed_dim=4, hidden_size=3, embedding_weights=weights, freeze_embedding=True)
    assert torch.equal(model.encoder.embedding.weight, weights) and not model.encoder.embedding.weight.requires_grad
    tuned = RNNClassifier(10, 2, embed_dim=4, hidden_size=3, embedding_weights=weights)
    assert tuned.encoder.embedding.weight.requires_grad
    with pytest.raises(ValueError, match="expected"):
        RNNClassifier(10, 2, embed_dim=5, hidden_size=3, embedding_weights=weights)


def test_unknown_cell_or_pooling():
    with pytest.raises(ValueError, match="unknown cell"):
        RNNClassifier(10, 2, cell="transformer")
    with pytest.raises(ValueError, match="unknown pooling"):
        RNNClassifier(10, 2, pooling="weighted")


def test_word_dropout_drops_whole_tokens_in_training_only():
    torch.manual_seed(0)
    model = RNNClassifier(30, 2, embed_dim=6, hidden_size=4, dropout=0.0, word_dropout=0.5)
    tokens, lengths = torch.randint(1, 30, (8, 12)), torch.full((8,), 12)
    seen = {}
    model.encoder.rnn.register_forward_hook(lambda _m, inputs, _o: seen.update(x=inputs[0]))
    model.train()
    model(tokens, lengths)
    zeroed = seen["x"].eq(0).all(-1)  # [B, T]: tokens whose whole vector was dropped
    assert 0.3 < zeroed.float().mean() < 0.7
    kept = ~zeroed
    assert torch.allclose(seen["x"][kept], 2 * model.encoder.embedding(tokens)[kept])  # the rest scaled by 1 / (1 - p)
    model.eval()
    assert torch.equal(model(tokens, lengths), model(tokens, lengths))
    assert torch.equal(seen["x"], model.encoder.embedding(tokens))


def test_attention_pooling_is_a_weighted_mean_of_the_real_steps():
    torch.manual_seed(0)
    model = RNNClassifier(20, 2, embed_dim=4, hidden_size=3, pooling="attention").eval()
    tokens, lengths = torch.tensor([[3, 4, 5, 9, 9]]), torch.tensor([3])
    outputs = model.encoder(tokens, lengths)[:, :3]
    weights = torch.softmax(model.attention(outputs), dim=1)
    assert torch.allclose(model(tokens, lengths), model.output((weights * outputs).sum(1)), atol=1e-6)
    one_step = model.encoder(tokens[:, :1], torch.tensor([1]))[:, 0]
    assert torch.allclose(model(tokens, torch.tensor([1])), model.output(one_step), atol=1e-6)  # one real step: all the weight
    assert RNNClassifier(20, 2, pooling="max").attention is None


def test_word_chars_add_the_mean_of_a_words_character_vectors():
    from data_processor.char_backoff import word_characters
    from data_processor.vocab import Vocab

    vocab = Vocab(["性价比", "性", "价", "好", "比较", "<x>"])
    table = word_characters(vocab)
    assert table[vocab.index("性价比")] == [vocab.index("性"), vocab.index("价")]  # 比 is not in the vocabulary
    assert table[vocab.index("好")] == [] and table[vocab.pad_id] == [] and table[vocab.index("比较")] == []
    torch.manual_seed(0)
    model = RNNClassifier(len(vocab), 2, embed_dim=5, hidden_size=3, dropout=0.0, word_chars=table).eval()
    seen = {}
    model.encoder.rnn.register_forward_hook(lambda _m, inputs, _o: seen.update(x=inputs[0]))
    ids = torch.tensor([[vocab.index("性价比"), vocab.index("好"), vocab.index("比较")]])
    model(ids, torch.tensor([3]))
    e = model.encoder.embedding.weight
    assert torch.allclose(seen["x"][0, 0], e[vocab.index("性价比")] + (e[vocab.index("性")] + e[vocab.index("价")]) / 2)
    assert torch.allclose(seen["x"][0, 1:], e[ids[0, 1:]])  # no characters to add
    assert "encoder.word_chars" in model.state_dict()  # saved with the weights

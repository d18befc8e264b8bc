// Tokenizer over @huggingface/tokenizers (tokenizer.json) and chat templates over
// @huggingface/jinja, as ecosystem.md recommends. User text never becomes special tokens:
// it is encoded by a second tokenizer built without the special added tokens, so a literal
// "<|end_of_text|>" in a prompt is spelled out byte by byte instead of ending the text.
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './errors.js';

export interface ChatMessage {
  role: string;
  content: string;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

export interface TokenizerOptions {
  /** Overrides for the ids from tokenizer_config.json / config.json. */
  bosTokenId?: number | null;
  eosTokenIds?: number[];
}

export class TextTokenizer {
  /** Full tokenizer: decodes everything and splits template text on special tokens. */
  private readonly full: Tokenizer;
  /** Same tokenizer without special added tokens: encodes user text. */
  private readonly plain: Tokenizer;
  private readonly specialIds: Set<number>;
  private readonly chatTemplate: string | null;
  private readonly config: Record<string, unknown>;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  readonly vocabSize: number;

  constructor(
    tokenizerJson: Record<string, unknown>,
    tokenizerConfig: Record<string, unknown>,
    options: TokenizerOptions = {},
  ) {
    if (!tokenizerJson || typeof tokenizerJson !== 'object' || !('model' in tokenizerJson)) {
      throw new TokenizerError('tokenizer.json: no `model` section; is this a Hugging Face tokenizers file?');
    }
    this.config = tokenizerConfig ?? {};
    this.full = new Tokenizer(tokenizerJson, this.config);
    const added = (tokenizerJson.added_tokens ?? []) as AddedTokenJson[];
    this.specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
    this.plain = new Tokenizer(
      { ...tokenizerJson, added_tokens: added.filter((t) => !t.special) },
      this.config,
    );
    const tokenId = (field: string): number | null => {
      const value = this.config[field];
      const content =
        typeof value === 'string' ? value : (value as { content?: string } | undefined)?.content;
      return content === undefined ? null : (this.full.token_to_id(content) ?? null);
    };
    this.bosTokenId = options.bosTokenId !== undefined ? options.bosTokenId : tokenId('bos_token');
    const eos = tokenId('eos_token');
    this.eosTokenIds = options.eosTokenIds ?? (eos === null ? [] : [eos]);
    this.vocabSize = this.full.get_vocab(true).size;
    const template = this.config.chat_template;
    this.chatTemplate = typeof template === 'string' ? template : null;
  }

  /** Token ids of user text: no BOS/EOS added, special-token strings are plain text. */
  encode(text: string): number[] {
    return this.plain.encode(text, { add_special_tokens: false }).ids;
  }

  /** Text of token ids; special tokens are dropped unless `skipSpecialTokens` is false. */
  decode(ids: ArrayLike<number>, { skipSpecialTokens = true } = {}): string {
    if (ids.length === 0) return '';
    return this.full.decode(Array.from(ids), {
      skip_special_tokens: skipSpecialTokens,
      clean_up_tokenization_spaces: false,
    });
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  idToToken(id: number): string | undefined {
    return this.full.id_to_token(id);
  }

  get hasChatTemplate(): boolean {
    return this.chatTemplate !== null;
  }

  /**
   * Renders `tokenizer_config.json`'s chat template and tokenizes it. Message contents are
   * rendered as placeholders and encoded separately with `encode`, so only the template's
   * own text can produce special tokens.
   */
  applyChatTemplate(messages: ChatMessage[], { addGenerationPrompt = true } = {}): number[] {
    if (!this.chatTemplate)
      throw new TokenizerError('tokenizer_config.json has no `chat_template`; pass a plain prompt instead');
    const marker = (i: number) => `\u{E000}anyprec-message-${i}\u{E001}`;
    const special = (field: string) => {
      const value = this.config[field];
      return typeof value === 'string' ? value : ((value as { content?: string } | undefined)?.content ?? '');
    };
    let rendered: string;
    try {
      rendered = new Template(this.chatTemplate).render({
        messages: messages.map((m, i) => ({ role: m.role, content: marker(i) })),
        add_generation_prompt: addGenerationPrompt,
        bos_token: special('bos_token'),
        eos_token: special('eos_token'),
      });
    } catch (err) {
      throw new TokenizerError(`chat_template failed to render: ${(err as Error).message}`);
    }
    const ids: number[] = [];
    const pattern = /\u{E000}anyprec-message-(\d+)\u{E001}/gu;
    let last = 0;
    for (const match of rendered.matchAll(pattern)) {
      const index = match.index ?? 0;
      if (index > last)
        ids.push(...this.full.encode(rendered.slice(last, index), { add_special_tokens: false }).ids);
      ids.push(...this.encode(messages[Number(match[1])].content));
      last = index + match[0].length;
    }
    if (last < rendered.length)
      ids.push(...this.full.encode(rendered.slice(last), { add_special_tokens: false }).ids);
    return ids;
  }
}

import { Template } from '@huggingface/jinja';

/** One chat turn as chat templates expect it. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | (string & {});
  readonly content: string;
}

/**
 * A model's Jinja chat template (`chat_template` in tokenizer_config.json), rendered with the
 * variables Hugging Face's `apply_chat_template` provides.
 */
export class ChatTemplate {
  private readonly template: Template;

  /**
   * @param source the Jinja source
   * @param bosToken text of the BOS token (`bos_token` in templates)
   * @param eosToken text of the EOS token (`eos_token` in templates)
   */
  constructor(
    source: string,
    private readonly bosToken: string,
    private readonly eosToken: string,
  ) {
    this.template = new Template(source);
  }

  /**
   * Renders a conversation.
   *
   * @param addGenerationPrompt end with the header that opens the assistant's turn
   */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    return this.template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      bos_token: this.bosToken,
      eos_token: this.eosToken,
      add_generation_prompt: addGenerationPrompt,
    });
  }
}

import OpenAI from 'openai';

let client: OpenAI | undefined;

/** One Chat Completions call, the way most hand-written Temporal activities make it. */
export async function bareCall(prompt: string): Promise<string> {
  client ??= new OpenAI({
    apiKey: process.env.OPENAI_API_KEY,
    baseURL: process.env.OPENAI_BASE_URL,
    maxRetries: 0,
  });
  const res = await client.chat.completions.create({
    model: 'bench-model',
    messages: [{ role: 'user', content: prompt }],
  });
  return res.choices[0]?.message.content ?? '';
}

/** Channel names as the duty officer reads them. */
export const CHANNEL_WORD: Record<string, string> = {
  sms: '短信', voice: '语音电话', phone: '电话', call: '电话', app: 'App', wechat: '微信', broadcast: '广播', radio: '对讲',
};

export function channelWords(ch: string[] | undefined): string {
  if (!ch || ch.length === 0) return '—';
  return ch.map((c) => CHANNEL_WORD[c] ?? c).join('、');
}

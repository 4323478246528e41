/* seq2seq-translate: placeholder until the CLI lands. */
#include <stdio.h>
int main(void)
{
	fputs("seq2seq-translate: not built yet\n", stderr);
	return 1;
}

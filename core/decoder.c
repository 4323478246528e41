/* placeholder: filled in by its module owner */
typedef int s2s__placeholder_decoder;

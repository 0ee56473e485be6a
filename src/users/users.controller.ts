import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiCookieAuth, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import type { Request, Response } from 'express';
import { AppConfig } from '../core/config/app-config';
import { AppError } from '../core/errors';
import { clearSessionCookie } from '../core/http/session-cookie';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { requestScope } from '../core/http/client-address';
import { Public } from '../core/http/public.decorator';
import { BlockedListQueryDto, SearchUsersQueryDto } from './dto/search-users.dto';
import { SettingsDto, UpdateSettingsDto } from './dto/settings.dto';
import { UpdateProfileDto } from './dto/update-profile.dto';
import { BlockResultDto, DeletedAccountDto } from './dto/user-actions.dto';
import { PublicUserDto, UserDto } from './dto/user.dto';
import { UserSettings } from './user-settings';
import { UsersService } from './users.service';

/** Literal routes (`me`, `search`, `me/settings`, `me/blocked`, `public/…`) are declared before `:id` so that it cannot capture them. */
@ApiTags('users')
@ApiCookieAuth()
@Controller('api/users')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly config: AppConfig,
  ) {}

  @Get('me')
  @ApiOperation({ summary: 'Your full profile, email included' })
  @ApiEnvelope(UserDto)
  @ApiErrors('UNAUTHORIZED')
  me(@Auth() auth: AuthContext): Promise<UserDto> {
    return this.users.me(auth.userId);
  }

  @Patch('me')
  @ApiOperation({ summary: 'Change nickname, names, avatar or bio; users sharing a chat receive user:updated' })
  @ApiEnvelope(UserDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'NICKNAME_TAKEN', 'MEDIA_NOT_FOUND')
  update(@Auth() auth: AuthContext, @Body() body: UpdateProfileDto): Promise<UserDto> {
    return this.users.updateProfile(auth.userId, body);
  }

  @Delete('me')
  @ApiOperation({ summary: 'Delete your account and everything of it; direct and secret chats go, owned groups pass on, sockets close with 4001' })
  @ApiEnvelope(DeletedAccountDto)
  @ApiErrors('UNAUTHORIZED')
  async remove(@Auth() auth: AuthContext, @Res({ passthrough: true }) response: Response): Promise<DeletedAccountDto> {
    // USER_NOT_FOUND: a deletion of the same account (a double click, a retry) committed while this one waited: it is deleted all the same.
    await this.users.deleteAccount(auth.userId).catch((error: unknown) => {
      if (!(error instanceof AppError && error.code === 'USER_NOT_FOUND')) throw error;
    });
    // The session went with the account: a browser's cookie goes too.
    clearSessionCookie(response, this.config.isProduction);
    return { deleted: true };
  }

  @Get('search')
  @ApiOperation({ summary: 'Nickname search: prefix matches first, then other matches; at most 20; hides users who blocked you' })
  @ApiEnvelope(UserDto, { isArray: true })
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR')
  search(@Auth() auth: AuthContext, @Query() query: SearchUsersQueryDto): Promise<UserDto[]> {
    return this.users.search(auth.userId, query.q);
  }

  @Get('me/settings')
  @ApiOperation({ summary: 'Your settings, every field with its value or default (shared by all your devices)' })
  @ApiEnvelope(SettingsDto)
  @ApiErrors('UNAUTHORIZED')
  settings(@Auth() auth: AuthContext): Promise<UserSettings> {
    return this.users.settingsOf(auth.userId);
  }

  /** The body is validated by the service: known fields by value, client keys by name and primitive value. */
  @Put('me/settings')
  @ApiOperation({ summary: 'Merge a partial settings object; privacy fields take a boolean or all|contacts|nobody' })
  @ApiBody({ type: UpdateSettingsDto })
  @ApiEnvelope(SettingsDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR')
  updateSettings(@Auth() auth: AuthContext, @Body() body: Record<string, unknown>): Promise<UserSettings> {
    return this.users.updateSettings(auth.userId, body);
  }

  @Get('me/blocked')
  @ApiOperation({
    summary: 'Users you have blocked, most recent first: their ids, or with full=1 their User objects',
    description: 'The web client asks for the ids to tell whether a profile is blocked (UserProfile.tsx: `data.includes(id)`) and for `full=1` to list them.',
  })
  @ApiEnvelope(
    {
      // anyOf, not oneOf: an empty list is both.
      schema: {
        anyOf: [
          { type: 'array', items: { type: 'string', format: 'uuid' }, description: 'without full, or with full=0 or false: the ids' },
          { type: 'array', items: { $ref: getSchemaPath(UserDto) }, description: 'with full=1 or true: the User objects' },
        ],
      },
      models: [UserDto],
    },
    { description: 'the blocked users: their ids, or with full=1 (or true) their User objects' },
  )
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR')
  async blocked(@Auth() auth: AuthContext, @Query() query: BlockedListQueryDto): Promise<UserDto[] | string[]> {
    return query.full === '1' || query.full === 'true' ? this.users.blockedUsers(auth.userId) : this.users.blockedIds(auth.userId);
  }

  @Get('public/:nickname')
  @Public()
  @ApiOperation({ summary: 'Anyone, signed in or not: a profile by nickname (any case), avatar only if its showAvatar is all; RATE_LIMIT_PUBLIC_PROFILE per client address' })
  @ApiEnvelope(PublicUserDto)
  @ApiErrors('USER_NOT_FOUND', 'RATE_LIMIT')
  publicProfileByNickname(@Param('nickname') nickname: string, @Req() req: Request): Promise<PublicUserDto> {
    return this.users.publicByNickname(nickname, requestScope(req));
  }

  @Get(':id')
  @ApiOperation({ summary: "A user's public profile (no email); presence as their privacy settings allow" })
  @ApiEnvelope(UserDto)
  @ApiErrors('UNAUTHORIZED', 'USER_NOT_FOUND')
  profile(@Auth() auth: AuthContext, @Param('id') id: string): Promise<UserDto> {
    return this.users.publicProfile(auth.userId, id);
  }

  @Post(':id/block')
  @HttpCode(200)
  @ApiOperation({ summary: 'Block a user (idempotent); they are not told. At most BLOCKS_MAX (5,000 by default)' })
  @ApiEnvelope(BlockResultDto)
  @ApiErrors('UNAUTHORIZED', 'USER_NOT_FOUND', 'CANNOT_TARGET_SELF', 'BLOCKS_LIMIT')
  async block(@Auth() auth: AuthContext, @Param('id') id: string): Promise<BlockResultDto> {
    await this.users.block(auth.userId, id);
    return { blocked: true };
  }

  @Delete(':id/block')
  @ApiOperation({ summary: 'Unblock a user (idempotent)' })
  @ApiEnvelope(BlockResultDto)
  @ApiErrors('UNAUTHORIZED', 'USER_NOT_FOUND', 'CANNOT_TARGET_SELF')
  async unblock(@Auth() auth: AuthContext, @Param('id') id: string): Promise<BlockResultDto> {
    await this.users.unblock(auth.userId, id);
    return { blocked: false };
  }
}
